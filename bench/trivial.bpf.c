// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * The baselines the generator tail-calls instead of xdpnet:
 *   xb_redirect  bpf_redirect_map to devmap slot 0 (the floor: a trivial forwarder)
 *   xb_redirect_if  bpf_redirect to xb_tx_ifindex (the same without a devmap)
 *   xb_pass      XDP_PASS (hands the frame to the Linux stack: the bridge case)
 *   xb_count     one per-CPU counter, XDP_DROP (the program-cost baseline)
 * and, run on its own, a probe of the host's memory:
 *   xb_memprobe  a chain of dependent reads at pseudo-random lines of xb_mem
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "bench.h"

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

/*
 * The host's memory as a BPF program sees it: XB_MEM_READS reads per run,
 * each at a line picked from the previous read's value, among the first
 * xb_mem_lines lines of xb_mem (the working set). A read waits for the one
 * before, as a packet's table lookups wait for its key: the time per read
 * is the latency of the level of the cache hierarchy that working set fits
 * in, on this host, now. The lines hold zeros; the chain never repeats
 * (bench.h: XB_MEM_READS, XB_MEM_LINES_MAX).
 */
struct xb_line {
	__u64 w[8];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XB_MEM_LINES_MAX);
	__type(key, __u32);
	__type(value, struct xb_line);
} xb_mem SEC(".maps");

/* Written by the driver: a power of two, at most XB_MEM_LINES_MAX. */
__u32 xb_mem_lines = 1;
__u64 xb_mem_seed = 0;

SEC("xdp")
int xb_memprobe(struct xdp_md *ctx)
{
	__u64 h = xb_mem_seed;

	for (int i = 0; i < XB_MEM_READS; i++) {
		__u32 idx = (__u32)(((h + i) * 0x9E3779B97F4A7C15ULL) >> 32) & (xb_mem_lines - 1);
		struct xb_line *l = bpf_map_lookup_elem(&xb_mem, &idx);

		if (!l)
			return XDP_ABORTED;
		h = h * 0xff51afd7ed558ccdULL + l->w[0] + 1;
	}
	xb_mem_seed = h;
	return XDP_DROP;
}
