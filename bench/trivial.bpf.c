// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * The baselines the generator tail-calls instead of xdpnet:
 *   xb_redirect  bpf_redirect_map to devmap slot 0 (the floor: a trivial forwarder)
 *   xb_redirect_if  bpf_redirect to xb_tx_ifindex (the same without a devmap)
 *   xb_pass      XDP_PASS (hands the frame to the Linux stack: the bridge case)
 *   xb_count     one per-CPU counter, XDP_DROP (the program-cost baseline)
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} xb_tx SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} xb_count_ctr SEC(".maps");

SEC("xdp")
int xb_redirect(struct xdp_md *ctx)
{
	return bpf_redirect_map(&xb_tx, 0, 0);
}

/* Written by the driver before the first run. */
__u32 xb_tx_ifindex = 0;

SEC("xdp")
int xb_redirect_if(struct xdp_md *ctx)
{
	return bpf_redirect(xb_tx_ifindex, 0);
}

SEC("xdp")
int xb_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("xdp")
int xb_count(struct xdp_md *ctx)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&xb_count_ctr, &zero);

	if (n)
		(*n)++;
	return XDP_DROP;
}
