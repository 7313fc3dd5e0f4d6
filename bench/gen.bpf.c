// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * xb_gen: the traffic generator, run by BPF_PROG_TEST_RUN (live frames or not).
 *
 * Live-frames mode (BPF_F_TEST_XDP_LIVE_FRAMES) copies data_in into each page
 * once, when the page pool creates the page, and then recycles the page: the
 * kernel resets data/data_end but not the bytes. Whatever the program under
 * test (or the stack) rewrote is what the next injection of that page carries.
 * So on every frame this program
 *   1. puts ctx->data back where the template starts (a tag push or pop in the
 *      previous run of this buffer moved it: non-live test runs never reset it),
 *   2. rewrites the whole frame from template (counter % n_tmpl): 64 or 68
 *      bytes, fixed per run, copied with 8-byte stores (or, selectably, with
 *      bpf_xdp_store_bytes),
 *   3. optionally draws random source/destination MACs among an FDB fill,
 *      or (NAT) makes the frame a UDP tuple never sent before: source port,
 *      source and destination address from a per-CPU counter, checksums
 *      completed from partial sums (see XB_NT_* in bench.h),
 *   4. tail-calls slot 0 of xb_target: the program under test.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "bench.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XB_MAX_TMPL);
	__type(key, __u32);
	__type(value, struct xb_tmpl);
} xb_tmpl SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xb_gen_cfg);
} xb_gen_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xb_gen_state);
} xb_gen_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} xb_target SEC(".maps");

/* Set from userspace before load (rodata): restore with the helper instead. */
const volatile __u32 xb_use_store_bytes = 0;

static __always_inline void copy64(__u64 *d, const __u64 *s)
{
	d[0] = s[0];
	d[1] = s[1];
	d[2] = s[2];
	d[3] = s[3];
	d[4] = s[4];
	d[5] = s[5];
	d[6] = s[6];
	d[7] = s[7];
}

static __always_inline void put_fill_mac(__u8 *m, __u32 i)
{
	m[0] = XB_FILL_MAC0;
	m[1] = XB_FILL_MAC1;
	m[2] = i >> 24;
	m[3] = i >> 16;
	m[4] = i >> 8;
	m[5] = i;
}

SEC("xdp")
int xb_gen(struct xdp_md *ctx)
{
	__u32 zero = 0, idx;
	struct xb_gen_cfg *cfg = bpf_map_lookup_elem(&xb_gen_cfg, &zero);
	struct xb_gen_state *st = bpf_map_lookup_elem(&xb_gen_state, &zero);
	struct xb_tmpl *t;
	long len, delta;
	int err;

	if (!cfg || !st)
		return XDP_ABORTED;

	idx = st->next;
	if (idx >= cfg->n_tmpl)
		idx = 0;
	st->next = idx + 1;
	t = bpf_map_lookup_elem(&xb_tmpl, &idx);
	if (!t)
		return XDP_ABORTED;

	/* 1. Back to the template's start (only the head ever moves). */
	len = (long)ctx->data_end - (long)ctx->data;
	delta = len - (long)cfg->frame_len;
	if (delta && bpf_xdp_adjust_head(ctx, (int)delta)) {
		st->restore_fail++;
		return XDP_DROP;
	}

	/* 2. The whole frame, from the template: eight (nine) 8-byte stores.
	 * (bpf_xdp_store_bytes does the same job at the cost of a helper call;
	 * xb_use_store_bytes selects it, to compare.) */
	if (xb_use_store_bytes) {
		if (cfg->frame_len == 68)
			err = bpf_xdp_store_bytes(ctx, 0, t->data, 68);
		else
			err = bpf_xdp_store_bytes(ctx, 0, t->data, 64);
	} else {
		__u64 *d = (void *)(long)ctx->data;
		const __u64 *src = (const __u64 *)t->data;

		void *end = (void *)(long)ctx->data_end;

		err = -1;
		if (cfg->frame_len == 68) {
			if ((void *)(d + 8) + 4 <= end) {
				copy64(d, src);
				*(__u32 *)(d + 8) = *(const __u32 *)(src + 8);
				err = 0;
			}
		} else if ((void *)(d + 8) <= end) {
			copy64(d, src);
			err = 0;
		}
	}
	if (err) {
		st->restore_fail++;
		return XDP_DROP;
	}

	/* 3. Random lookups over an FDB fill: dst = entry 2k, src = entry 2k+1. */
	if (cfg->mode == XB_GEN_RANDOM_FDB) {
		void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
		__u64 half = cfg->fill / 2, x = st->rng;

		if (data + 12 > end)
			return XDP_DROP;
		if (!half)
			half = 1;
		/* xorshift64, then multiply-shift range reduction: no helper, no division */
		if (!x)
			x = bpf_get_prandom_u32() | 1;
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		st->rng = x;
		put_fill_mac(data, (((x & 0xffffffff) * half) >> 32) * 2);
		put_fill_mac(data + 6, (((x >> 32) * half) >> 32) * 2 + 1);
	}

	/* 3b. A new UDP tuple on every frame (see XB_NT_* in bench.h). */
	if (cfg->mode == XB_GEN_NEW_TUPLE) {
		__u8 *d = (void *)(long)ctx->data;
		__u64 c = st->seq++;
		__u32 port = XB_NT_PORT_LO + (__u32)(c % XB_NT_PORTS);
		__u32 k = (__u32)(c / XB_NT_PORTS);
		__u32 vm = k % XB_NT_VMS, ip, udp;
		__u32 saddr_lo = (30 << 8) | (XB_NT_VM_FIRST + vm); /* 10.0.30.x */
		__u32 daddr_lo = (XB_NT_DADDR_LO + k) & 0xffff;

		if ((void *)(d + 42) > (void *)(long)ctx->data_end) {
			st->restore_fail++;
			return XDP_DROP;
		}
		d[11] = vm;                 /* source MAC 02:b3:00:00:00:vm */
		d[28] = saddr_lo >> 8;      /* IPv4 source, low word */
		d[29] = saddr_lo;
		d[32] = daddr_lo >> 8;      /* IPv4 destination, low word */
		d[33] = daddr_lo;
		d[34] = port >> 8;          /* UDP source port */
		d[35] = port;
		ip = cfg->nt_ip_sum + saddr_lo + daddr_lo;
		ip = (ip & 0xffff) + (ip >> 16);
		ip = (ip & 0xffff) + (ip >> 16);
		ip = ~ip & 0xffff;
		d[24] = ip >> 8;
		d[25] = ip;
		udp = cfg->nt_udp_sum + saddr_lo + daddr_lo + port;
		udp = (udp & 0xffff) + (udp >> 16);
		udp = (udp & 0xffff) + (udp >> 16);
		udp = ~udp & 0xffff;
		if (!udp)
			udp = 0xffff; /* 0 would mean "no checksum" */
		d[40] = udp >> 8;
		d[41] = udp;
	}

	/* 4. The program under test. */
	st->frames++;
	bpf_tail_call(ctx, &xb_target, 0);
	st->tail_fail++;
	return XDP_DROP;
}
