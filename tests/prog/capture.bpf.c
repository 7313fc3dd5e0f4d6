// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Test helper (prog tier): attached to the far end of each test veth, records
 * every frame that arrives (interface + first CAP_MAX bytes) into a ring
 * buffer and drops it. Lets live-frames and tc tests see exactly what the
 * datapath transmitted, tags included. Also gives the veth a receiving XDP
 * program, without which frames redirected into it are lost.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define CAP_MAX 256

struct cap_rec {
	__u32 ifindex;
	__u32 len;
	__u8 data[CAP_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 18);
} cap_ring SEC(".maps");

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("xdp")
int capture(struct xdp_md *ctx)
{
	__u32 len = ctx->data_end - ctx->data;
	struct cap_rec *r = bpf_ringbuf_reserve(&cap_ring, sizeof(*r), 0);

	if (!r)
		return XDP_DROP;
	r->ifindex = ctx->ingress_ifindex;
	r->len = len;
	__u64 n = len < CAP_MAX - 1 ? len : CAP_MAX - 1;
	/* Make the bound visible on the very register handed to the helper. */
	asm volatile("%0 &= 0xff" : "+r"(n));
	if (n == 0 || bpf_xdp_load_bytes(ctx, 0, r->data, n))
		r->len = 0;
	bpf_ringbuf_submit(r, 0);
	return XDP_DROP;
}
