// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * xb_sink: on the namespace end of a port (the "VM"). Counts what arrives,
 * checks its length and tagging against what the scenario expects, and drops
 * it, so the receiver's stack is not part of the measurement. One loaded copy
 * per namespace end (each with its own maps).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "bench.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xb_sink_cfg);
} xb_sink_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xb_sink_ctr);
} xb_sink_ctr SEC(".maps");

/* [0]: the first bytes of the latest frame this sink was not meant to get
 * (expect_len 0), so a stray frame can be identified afterwards. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xb_sink_stray);
} xb_sink_stray SEC(".maps");

SEC("xdp")
int xb_sink(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u32 zero = 0, len = end - data, vid = 0;
	struct xb_sink_cfg *cfg = bpf_map_lookup_elem(&xb_sink_cfg, &zero);
	struct xb_sink_ctr *c = bpf_map_lookup_elem(&xb_sink_ctr, &zero);
	struct ethhdr *eth = data;
	__u32 l3 = sizeof(*eth);
	__be16 proto = 0;
	int tagged = 0;

	if (!cfg || !c)
		return XDP_DROP;
	c->pkts++;
	c->bytes += len;
	if (data + sizeof(*eth) + 4 <= end && eth->h_proto == bpf_htons(ETH_P_8021Q)) {
		tagged = 1;
		vid = bpf_ntohs(*(__be16 *)(eth + 1)) & 0x0fff;
		proto = *(__be16 *)((void *)(eth + 1) + 2);
		l3 += 4;
		c->tagged++;
	} else if (data + sizeof(*eth) <= end) {
		proto = eth->h_proto;
	}
	if (!cfg->expect_len) {
		struct xb_sink_stray *st = bpf_map_lookup_elem(&xb_sink_stray, &zero);

		if (st && data + sizeof(st->head) <= end) {
			__builtin_memcpy(st->head, data, sizeof(st->head));
			st->len = len;
		}
	}
	if (cfg->expect_len && len != cfg->expect_len)
		c->bad_len++;
	if (cfg->ip_off) {
		/* IPv4 right after the Ethernet header (and tag): the address at ip_off. */
		__u32 off = cfg->ip_off & 31;
		__u32 *addr = data + l3 + off;

		if (proto != bpf_htons(ETH_P_IP) || (void *)(addr + 1) > end ||
		    (*addr & cfg->ip_mask) != cfg->ip_val)
			c->bad_ip++;
	}
	if (cfg->expect_vid != 0xffff &&
	    (cfg->expect_vid == 0 ? tagged : (!tagged || vid != cfg->expect_vid)))
		c->bad_vlan++;
	return XDP_DROP;
}
