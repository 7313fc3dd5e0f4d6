/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Packet capture for `xdpnet capture` (abi.h: struct xdpnet_capture_cfg).
 * xdpnet_ingress reads the capture's mode once per frame (one inlined array
 * load, an unknown scalar to the verifier, so the pipeline is verified once);
 * only when armed does it call xdpnet_capture_frame, before the pipeline (RX: the
 * frame as received) or after it (DROPS: the frame as it was when dropped,
 * with the reason xdp_drop left in the CPU's xdpnet_flow_cpu).
 */
#ifndef XDPNET_BPF_CAPTURE_H
#define XDPNET_BPF_CAPTURE_H
#include "common.h"
#include "port.h"
#include "stats.h"
#include "../../maps/capture.h"

static __always_inline __u32 capture_armed(void)
{
	__u32 zero = 0;
	const struct xdpnet_capture_cfg *c = bpf_map_lookup_elem(&xdpnet_capture, &zero);

	return c ? c->mode : 0;
}

/* The current frame's drop reason as xdp_drop recorded it (0: none). */
static __always_inline __u32 capture_drop_reason(int reset)
{
	__u32 zero = 0, r;
	struct xdpnet_flow_cpu *fc = bpf_map_lookup_elem(&xdpnet_flow_cpu, &zero);

	if (!fc)
		return 0;
	r = fc->drop;
	if (reset)
		fc->drop = 0;
	return r;
}

/* Copies the frame into the capture ring when the capture wants it. A global
 * function: verified once, called only while a capture is armed. */
__noinline int xdpnet_capture_frame(struct xdp_md *ctx, __u32 mode, __u32 reason)
{
	__u32 zero = 0, gen = live_gen(), slot = XDPNET_SLOT_NONE;
	const struct xdpnet_capture_cfg *cfg = bpf_map_lookup_elem(&xdpnet_capture, &zero);
	struct xdpnet_capture_rate *rate = bpf_map_lookup_elem(&xdpnet_capture_rate, &zero);
	const struct xdpnet_port *in;
	struct xdpnet_capture_rec *rec;
	__u64 t, w, len, caplen;

	if (!ctx || !cfg || !rate || !(cfg->mode & mode))
		return 0;
	if (clock_ns(config_of(gen)) > cfg->until_ns)
		return 0;
	in = port_of_ifindex(gen, ctx->ingress_ifindex);
	if (in)
		slot = in->slot;
	if (cfg->slot != XDPNET_SLOT_NONE && cfg->slot != slot)
		return 0;
	t = bpf_ktime_get_ns();
	w = t >> 30;
	if (rate->window != w) {
		rate->window = w;
		rate->count = 0;
	}
	if (rate->count >= cfg->pps) {
		rate->skipped++;
		return 0;
	}
	rec = bpf_ringbuf_reserve(&xdpnet_capture_ring, sizeof(*rec), 0);
	if (!rec) {
		rate->skipped++;
		return 0;
	}
	rate->count++;
	len = frame_len(ctx);
	caplen = len < cfg->snaplen ? len : cfg->snaplen;
	asm volatile("" : "+r"(caplen)); /* bound the register the helper gets */
	if (caplen < 1 || caplen > XDPNET_CAPTURE_SNAPLEN_MAX ||
	    bpf_xdp_load_bytes(ctx, 0, rec->data, caplen)) {
		bpf_ringbuf_discard(rec, 0);
		return 0;
	}
	rec->hdr.ktime_ns = t;
	rec->hdr.len = len;
	rec->hdr.caplen = caplen;
	rec->hdr.ifindex = ctx->ingress_ifindex;
	rec->hdr.reason = reason < XDPNET_DROP_MAX ? reason : 0;
	rec->hdr.slot = slot;
	rec->hdr.mode = mode;
	bpf_ringbuf_submit(rec, 0);
	return 1;
}

#endif
