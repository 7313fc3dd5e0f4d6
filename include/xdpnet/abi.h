/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The xdpnet ABI shared by the BPF programs and the C++ loader.
 *
 * This header is the single definition of every map key and value, of the
 * constants that size the maps, and of the drop reasons and counters. It is
 * plain C with fixed-width types and explicit padding; the size assertions
 * at the bottom compile on both sides, so a change that moves a field breaks
 * the build instead of silently changing the meaning of pinned state.
 *
 * Bump XDPNET_ABI_VERSION whenever a struct here changes meaning: the loader
 * refuses to adopt pinned state with another version.
 */
#ifndef XDPNET_ABI_H
#define XDPNET_ABI_H

#include <linux/types.h>
#include <linux/bpf.h> /* struct bpf_timer */

#define XDPNET_ABI_VERSION 8

/* Sizing. Port slots are small dense indices the loader assigns to ports;
 * they index the per-port arrays (config, stats, MAC counts). */
#define XDPNET_MAX_PORTS 255
#define XDPNET_SLOT_NONE XDPNET_MAX_PORTS /* stats slot for "not a port" */
#define XDPNET_STATS_SLOTS (XDPNET_MAX_PORTS + 1)
#define XDPNET_MAX_IFINDEX 65536          /* ifindex -> slot table size */
#define XDPNET_VLAN_COUNT 4096
#define XDPNET_GENS 2 /* policy generations: one live, one being built */

/* Port modes and flags (struct xdpnet_port.mode / .flags). */
enum xdpnet_port_mode {
	XDPNET_MODE_ACCESS = 1,
	XDPNET_MODE_TRUNK = 2,
	XDPNET_MODE_UPLINK = 3, /* a routed host interface (policy networks[].uplink):
				   IPv4 only, no VLANs, not switched */
};

enum xdpnet_port_flags {
	/* The host's own stack lives on this port's native VLAN (an uplink):
	 * frames for the port's MAC go up, broadcasts get a host copy. */
	XDPNET_PORT_HOST = 1 << 0,
	XDPNET_PORT_POLICE_IN = 1 << 1,  /* xdpnet_policers[gen][slot][XDPNET_DIR_IN] applies */
	XDPNET_PORT_POLICE_OUT = 1 << 2, /* xdpnet_policers[gen][slot][XDPNET_DIR_OUT] applies */
	XDPNET_PORT_DSCP = 1 << 3,       /* mark IPv4/IPv6 from the port with .dscp */
	XDPNET_PORT_SEC_MAC = 1 << 4,    /* port security: source MACs must be listed */
	XDPNET_PORT_SEC_IP = 1 << 5,     /* port security: source addresses must be listed */
	XDPNET_PORT_SEC_GUARD = 1 << 6,  /* port security: no DHCP server, no router adverts */
};

/* Per-generation port configuration, indexed by gen * MAX_PORTS + slot. */
struct xdpnet_port {
	__u32 ifindex;
	__u16 slot;
	__u16 pvid;     /* access: the port's VLAN; trunk: native VLAN, 0 = none */
	__u8 mode;      /* enum xdpnet_port_mode; 0 = slot unused */
	__u8 flags;     /* enum xdpnet_port_flags */
	__u8 mac[6];    /* the interface's own MAC (the host's, on host ports) */
	__u32 mac_limit; /* learned MACs allowed, 0 = unlimited */
	__be32 ipv4;     /* uplink: its IPv4 address (the masquerade source) */
	__u8 dscp;       /* XDPNET_PORT_DSCP: the code point (0-63) */
	__u8 pad[7];
	__u64 vlans[XDPNET_VLAN_COUNT / 64]; /* allowed VLANs (trunk); pvid set too */
};

/* Per-generation VLAN: the member slots, for floods done in tc (host copy). */
#define XDPNET_VLAN_MAX_MEMBERS 255
struct xdpnet_vlan {
	__u8 count;
	__u8 members[XDPNET_VLAN_MAX_MEMBERS]; /* slots */
};

/* Per-generation gateway of a VLAN (policy `networks`), indexed by
 * gen * VLAN_COUNT + vid: xdpnet answers ARP for gw_ip with router_mac and
 * echo requests sent to it. gw_ip 0 = no gateway on that VLAN. */
struct xdpnet_gateway {
	__be32 gw_ip;      /* network byte order */
	__u8 prefix_len;
	__u8 pad0;
	__u8 router_mac[6];
	__u32 pad1;
};

/* Routing (policy `networks`): which VLAN's subnet holds an address. An LPM
 * trie keyed by (generation, prefix): prefixlen counts the 32 generation bits
 * too, so a lookup with prefixlen 64 finds the longest prefix of its own
 * generation only. */
struct xdpnet_route_key {
	__u32 prefixlen; /* 32 + the subnet's prefix length */
	__u32 gen;       /* all 32 bits are prefix: any byte order, used alike */
	__be32 addr;
};

struct xdpnet_route {
	__u16 vid;  /* the network's VLAN; its gateway is xdpnet_gateway[gen][vid] */
	__u16 pad;
};

/* Loader-only: a network's name from the policy (for status and nat show),
 * per generation and VLAN like the gateway. */
struct xdpnet_netname {
	char name[32]; /* NUL-padded */
};

/* Neighbours on routed VLANs: (vid, IPv4) -> MAC, learned from ARP seen on
 * the VLAN (requests and replies, senders inside the VLAN's subnet) and from
 * the replies to the ARP requests the router sends when it misses one. */
struct xdpnet_neigh_key {
	__u16 vid;
	__u16 pad;
	__be32 ip;
};

enum xdpnet_neigh_state {
	XDPNET_NEIGH_REACHABLE = 1,  /* mac is valid */
	XDPNET_NEIGH_INCOMPLETE = 2, /* a request went out at updated_ns, no reply yet */
};

/* While a neighbour is INCOMPLETE the router asks again at most this often;
 * packets for it meanwhile are dropped and counted (neigh_unresolved). */
#define XDPNET_NEIGH_RETRY_NS 1000000000ULL

struct xdpnet_neigh {
	__u64 updated_ns; /* datapath clock: learned, or last request sent */
	__u8 mac[6];
	__u8 state;       /* enum xdpnet_neigh_state */
	__u8 pad;
};

/*
 * NAT (policy networks[] with an uplink). Per generation and VLAN, like the
 * gateway: what the network's traffic to the uplink gets.
 */
enum xdpnet_nat_flags {
	XDPNET_NAT_MASQ = 1 << 0,     /* source becomes the uplink's address */
	XDPNET_NAT_FORWARDS = 1 << 1, /* the uplink has port forwards (SNAT avoids their ports) */
};

enum xdpnet_ct_timeout {
	XDPNET_TO_TCP_SYN = 0,
	XDPNET_TO_TCP_EST,
	XDPNET_TO_TCP_CLOSING,
	XDPNET_TO_UDP,
	XDPNET_TO_ICMP,
	XDPNET_TO_MAX,
};

struct xdpnet_nat_config {
	__u32 uplink_ifindex; /* 0: no uplink */
	__u16 uplink_slot;
	__u8 flags;           /* enum xdpnet_nat_flags */
	__u8 pad0;
	__be32 uplink_ip;     /* the uplink's address */
	__u16 port_lo;        /* SNAT source ports (host order) */
	__u16 port_hi;
	__u32 timeout_s[XDPNET_TO_MAX]; /* enum xdpnet_ct_timeout */
	__u32 max_conns;      /* connections the network may hold; 0 = no limit */
};

/* Port forwards: (uplink, protocol, port) on the uplink's address -> a VM
 * address and port. Per generation (gen in the key). Also the set of ports
 * SNAT never hands out on that uplink. */
struct xdpnet_fwd_key {
	__u32 ifindex; /* the uplink */
	__be16 port;
	__u8 proto;    /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 gen;
};

struct xdpnet_fwd {
	__be32 addr;
	__be16 port;
	__u16 vid;     /* the network of addr */
};

/*
 * Connection tracking. A connection is two entries created and removed
 * together: one keyed by the tuple its originator sends, one keyed by the
 * tuple its replies arrive with. Each says what to rewrite its direction's
 * packets to; the other half's key follows from that (xdpnet_ct_peer).
 * ICMP echo: the identifier is the "port": sport in requests, dport in
 * replies (the other port is 0).
 */
enum xdpnet_ct_side {
	XDPNET_SIDE_VM = 1,     /* arrived from a network's port */
	XDPNET_SIDE_UPLINK = 2, /* arrived on the uplink */
};

struct xdpnet_ct_key {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 side; /* enum xdpnet_ct_side */
	__u16 pad;
};

enum xdpnet_ct_state {
	XDPNET_CT_TCP_SYN_SENT = 1,
	XDPNET_CT_TCP_SYN_RECV,
	XDPNET_CT_TCP_ESTABLISHED,
	XDPNET_CT_TCP_CLOSING,
	XDPNET_CT_UDP,
	XDPNET_CT_ICMP,
};

enum xdpnet_ct_flags {
	XDPNET_CT_ORIGINAL = 1 << 0,    /* this half is the originator's direction */
	XDPNET_CT_SNAT = 1 << 1,        /* the connection's source is translated */
	XDPNET_CT_DNAT = 1 << 2,        /* its destination is (a port forward) */
	XDPNET_CT_PEER_UPLINK = 1 << 3, /* the other half's packets arrive on the uplink */
};

/* A connection half: one cache line. With the hash map's 48-byte element
 * header and the 16-byte key in front, an element is 128 bytes, two whole
 * lines (the key's and this one), where 88 bytes of value made three or four
 * lines per element. */
struct xdpnet_ct {
	__be32 to_saddr; /* this direction's packets are rewritten to these */
	__be32 to_daddr;
	__be16 to_sport;
	__be16 to_dport;
	__u32 timeout_s;    /* of the current state */
	__u64 last_seen_ns; /* datapath clock */
	__u64 packets;      /* this direction */
	__u64 bytes;
	__u16 vid;          /* the network (VLAN) of the VM side */
	__u8 state;         /* enum xdpnet_ct_state */
	__u8 flags;         /* enum xdpnet_ct_flags */
	/* The rewrite's checksum changes, fixed per half (RFC 1624 terms:
	 * sum of ~old + new over the changed 16-bit words, folded): the
	 * addresses (IPv4 header), and the addresses with the ports (TCP/UDP,
	 * whose pseudo-header holds the addresses) or the echo identifier
	 * (ICMP). Written by the datapath when the pair is made. */
	__u16 csum_l3;
	__u16 csum_l4;
	__u32 created_s; /* datapath clock, whole seconds */
	/* Delivery into a network (halves whose packets go to a VM): the
	 * neighbour's MAC as last looked up, valid while nh_tag is
	 * xdpnet_ct_nh_tag of the datapath's version (FDB version << 1 |
	 * generation; a neighbour change bumps the FDB version) and for
	 * XDPNET_CT_NH_TTL units of XDPNET_CT_NH_SHIFT after nh_stamp (the
	 * clock's low 16 bits in those units: they wrap every ~18 minutes,
	 * and the tag must match too). nh_tag 0: nothing cached. */
	__u16 nh_stamp;
	/* This direction as a flow (policy telemetry.flows): a translated
	 * packet is counted here, not in the flow table. The OR of its TCP
	 * flags, and the VM's port: where a VM-side half's packets arrive
	 * (XDPNET_SLOT_NONE on uplink-side halves). */
	__u8 tcp_flags;
	__u8 port;
	__u8 nh_mac[6];
	__u16 nh_tag;
};

/* The nonzero tag of a datapath version: its low 15 bits (a cached
 * neighbour lives one second; the version does not go round 2^15 in one). */
static inline __u16 xdpnet_ct_nh_tag(__u32 version)
{
	return (__u16)((version & 0x7fff) | 0x8000);
}

/* The other half of k's connection: the tuple k's packets leave with,
 * reversed (their replies), on the side those arrive from. SNAT
 * a:p -> r:q (VM) rewritten to U:n -> r:q has the reply half r:q -> U:n
 * (uplink), whose own rewrite, to r:q -> a:p, reversed is k again. */
static inline void xdpnet_ct_peer(struct xdpnet_ct_key *peer, const struct xdpnet_ct_key *k,
				  const struct xdpnet_ct *v)
{
	peer->saddr = v->to_daddr;
	peer->daddr = v->to_saddr;
	peer->sport = v->to_dport;
	peer->dport = v->to_sport;
	peer->proto = k->proto;
	peer->side = (v->flags & XDPNET_CT_PEER_UPLINK) ? XDPNET_SIDE_UPLINK : XDPNET_SIDE_VM;
	peer->pad = 0;
}

#ifdef __cplusplus
static inline struct xdpnet_ct_key xdpnet_ct_peer_of(const struct xdpnet_ct_key &k, const struct xdpnet_ct &v)
{
	struct xdpnet_ct_key peer;

	xdpnet_ct_peer(&peer, &k, &v);
	return peer;
}
#endif

#define XDPNET_CT_NH_SHIFT 24 /* nh_stamp's unit: 2^24 ns, about 17 ms */
#define XDPNET_CT_NH_TTL 60   /* in those units: about one second */

/* IPv4 fragments through the NAT: only the first fragment carries the ports.
 * Its (source, destination, protocol, IP id) is remembered with the
 * connection it belongs to, so later fragments of the datagram follow it.
 * A later fragment seen before its first fragment is dropped and counted
 * (frag_unknown): the stated rule for out-of-order first fragments. */
struct xdpnet_frag_key {
	__be32 saddr;
	__be32 daddr;
	__be16 id;
	__u8 proto;
	__u8 side; /* enum xdpnet_ct_side */
};

struct xdpnet_frag {
	struct xdpnet_ct_key ct; /* the connection half the first fragment matched */
	__u64 seen_ns;
};

#define XDPNET_FRAG_TIMEOUT_NS (30ULL * 1000000000ULL) /* Linux's ipfrag_time */

/* Per-CPU cache of the uplink's next hops (datapath-only): a FIB answer for
 * (uplink, source, destination) reused for XDPNET_NH_CACHE_TTL_NS, for
 * packets no longer than one the FIB accepted (its MTU check). A neighbour
 * or route change is seen within that time. */
#define XDPNET_NH_CACHE_SIZE 256 /* per CPU, a power of two */
#define XDPNET_NH_CACHE_TTL_NS 1000000000ULL
struct xdpnet_nh_cache {
	__be32 dst;
	__be32 src;
	__u32 ifindex;
	__u16 ok_len;  /* the longest packet the FIB accepted */
	__u8 dmac[6];
	__u8 smac[6];
	__u64 stamp_ns;
};

/* SNAT probes at most this many candidate ports before giving up (nat_no_port). */
#define XDPNET_NAT_PROBES 16

/* XDP metadata in front of a frame passed up for the tc slow path (a routed
 * packet whose next hop the kernel has not resolved yet). */
#define XDPNET_META_MAGIC 0x78646e31 /* "xdn1" */
struct xdpnet_meta {
	__u32 magic;
	__u32 ifindex; /* the uplink to send it out of, via bpf_redirect_neigh */
};

/* A network's subnet as routing matches it: an address is in the network
 * (VLAN vid) when (addr & mask) == net. */
struct xdpnet_subnet {
	__be32 net;
	__be32 mask;
	__u16 vid;
	__u16 pad;
};

/* Policies with at most this many networks carry their subnets in the
 * configuration record (xdpnet_config.subnet), which routing scans instead
 * of looking in the LPM trie xdpnet_routes: a few compares on a cache line
 * the packet has read already, instead of a trie walk behind a helper call.
 * Subnets never overlap (the policy is checked), so the first match is the
 * only one. */
#define XDPNET_SUBNETS_INLINE 8
#define XDPNET_SUBNETS_TRIE 0xff /* more networks than fit: the trie */

/* Per-generation bridge configuration. */
struct xdpnet_config {
	__u64 aging_ns;     /* dynamic FDB entries unused this long are ignored */
	__u32 ns_per_jiffy; /* the datapath clock is jiffies64 x this (1e9 / HZ);
			       0: bpf_ktime_get_coarse_ns(), which costs ~18 ns more */
	__u8 limits;        /* per-address limits exist (xdpnet_limits) */
	__u8 acl;           /* an ACL exists: xdpnet_aclcfg[gen] */
	__u8 flow_bits;     /* per-flow accounting: log2 of each CPU's slots in
			       xdpnet_flows; 0: off */
	__u8 subnets;       /* 1-XDPNET_SUBNETS_INLINE: every network is in
			       subnet[]; 0 or XDPNET_SUBNETS_TRIE: routing looks
			       in xdpnet_routes */
	struct xdpnet_subnet subnet[XDPNET_SUBNETS_INLINE];
};

/* The netmask of a prefix length, in network byte order. */
static inline __be32 xdpnet_prefix_mask(__u8 prefix_len)
{
	__u32 m = prefix_len >= 32 ? 0xffffffffu : ~(0xffffffffu >> prefix_len);

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return __builtin_bswap32(m);
#else
	return m;
#endif
}

/* Adds the network of gateway gw_ip/prefix_len (network byte order) on VLAN
 * vid to a configuration's inline subnets; past XDPNET_SUBNETS_INLINE the
 * configuration sends routing to the trie. The loader adds every network
 * of a generation (and writes the trie alike). */
static inline void xdpnet_config_add_subnet(struct xdpnet_config *c, __be32 gw_ip,
					    __u8 prefix_len, __u16 vid)
{
	struct xdpnet_subnet *s;

	if (c->subnets >= XDPNET_SUBNETS_INLINE) {
		c->subnets = XDPNET_SUBNETS_TRIE;
		return;
	}
	s = &c->subnet[c->subnets++];
	s->mask = xdpnet_prefix_mask(prefix_len);
	s->net = gw_ip & s->mask;
	s->vid = vid;
	s->pad = 0;
}

/*
 * Policing (policy ports[].police and limits[]). Token buckets shared by all
 * CPUs, updated lock-free: a frame takes its tokens with one compare-and-
 * exchange, and the CPU that moves a bucket's last_ns forward (also a
 * compare-and-exchange) adds the tokens of that interval, so every
 * nanosecond is credited once. Over any interval T a bucket admits at most
 * depth + rate x (T + one clock tick), plus at most one frame per other CPU
 * in the rare race where a frame refused by the packets bucket returns its
 * bits. Tokens are scaled by XDPNET_TOKEN_SCALE: a bucket of `rate` per
 * second gains elapsed_ns x rate scaled tokens, a byte costs 8 x SCALE (the
 * rate is in bits) and a packet SCALE, so refills are exact integers and no
 * remainder is lost between packets.
 */
#define XDPNET_TOKEN_SCALE 1000000000ULL
#define XDPNET_BIT_COST (8ULL * XDPNET_TOKEN_SCALE) /* one byte in a bits bucket */

struct xdpnet_rate {
	__u64 rate;    /* bits/s (bits bucket) or packets/s; 0 = not limited */
	__u64 depth;   /* the burst, scaled: bytes x BIT_COST or packets x SCALE */
	__u64 fill_ns; /* from empty to full: ceil(depth / rate) */
};

enum xdpnet_exceed {
	XDPNET_EXCEED_DROP = 0,   /* over the rate: dropped (police_* / limit) */
	XDPNET_EXCEED_REMARK = 1, /* over the rate: DSCP set to remark_dscp, forwarded */
};

enum xdpnet_dir {
	XDPNET_DIR_IN = 0,  /* from the VM: the frame arrives on the port */
	XDPNET_DIR_OUT = 1, /* to the VM: the frame leaves through the port */
};

/* A policer's configuration: both buckets that are limited must admit. */
struct xdpnet_policer {
	struct xdpnet_rate bits;
	struct xdpnet_rate packets;
	__u8 exceed;      /* enum xdpnet_exceed */
	__u8 remark_dscp; /* XDPNET_EXCEED_REMARK: the code point */
	__u16 pad;
	__u32 full_s;     /* an idle bucket is full again after this many seconds
			     (the larger fill_ns, rounded up): the gc pass may
			     then forget a per-address bucket */
};

/* A policer's state, shared by all CPUs (not per generation: a new policy
 * keeps the bucket; a lower depth clamps it at the next refill). last_ns 0:
 * never used, starts full. */
struct xdpnet_bucket {
	__u64 last_ns; /* datapath clock of the last refill; never moves back */
	__u64 bits;    /* scaled tokens */
	__u64 packets;
	__u32 full_s;  /* the policer's full_s when last used (for the gc pass) */
	__u32 pad;
};

/* Per-address limits (policy limits[]): an LPM trie per generation from
 * source prefix to the limit, whose buckets are kept per source address.
 * IPv4 addresses are the first 4 bytes of addr. prefixlen counts the 32 bits
 * of gen/family/pad too (a lookup uses 32 + 128). */
struct xdpnet_limit_key {
	__u32 prefixlen;
	__u8 gen;
	__u8 family; /* 4 or 6 */
	__u16 pad;
	__u8 addr[16];
};

struct xdpnet_limit {
	__u32 id;  /* the limit's index in the policy: the state key */
	__u32 pad;
	struct xdpnet_policer pol;
};

/* The state of one source under one limit. family 0 / addr 0 is the limit's
 * shared overflow bucket, used while the table is full (limit_full). */
struct xdpnet_limit_src {
	__u32 id;
	__u8 family;
	__u8 pad[3];
	__u8 addr[16];
};

/*
 * Port security (policy ports[].security), per generation. A port with
 * XDPNET_PORT_SEC_MAC accepts only source MACs (and ARP/ND link-layer
 * addresses) listed in xdpnet_psec_mac; with XDPNET_PORT_SEC_IP only source
 * addresses (and ARP senders, ND targets) inside a prefix of xdpnet_psec_ip.
 */
struct xdpnet_psec_mac_key {
	__u8 gen;
	__u8 pad;
	__u16 slot;
	__u8 mac[6];
	__u16 pad2;
};

struct xdpnet_psec_ip_key {
	__u32 prefixlen; /* 32 + the prefix length */
	__u8 gen;
	__u8 family;     /* 4 or 6 */
	__u16 slot;
	__u8 addr[16];
};

/*
 * ACL (policy acl): first match wins, classified by tuple-space search. Each
 * rule is expanded (families, port ranges as prefixes) into exact-match
 * entries of masked packet fields; the entries of one mask ("shape") share
 * a hash probe. A packet costs one probe per shape, not one step per rule,
 * and shapes are visited in order of their best rule so the search stops as
 * soon as no later shape can hold an earlier rule.
 */
#define XDPNET_ACL_MAX_SHAPES 32 /* per generation */
#define XDPNET_ACL_MAX_RULES 65536

/* The fields a rule matches. In a mask every bit that matters is 1; in an
 * entry the fields are the packet's ANDed with its shape's mask. */
struct xdpnet_acl_key {
	__u8 shape;     /* gen * MAX_SHAPES + shape index (0 in masks) */
	__u8 family;    /* 4 or 6 */
	__u8 proto;     /* IPPROTO_*; ICMP echo and errors alike */
	__u8 pad;
	__u16 in_slot;  /* the ingress port's slot */
	__u16 from_vlan; /* the packet's VLAN on arrival; 0 from an uplink */
	__u16 to_vlan;   /* its VLAN on delivery; 0 out of an uplink */
	__be16 sport;    /* TCP/UDP ports; 0 for other protocols */
	__be16 dport;
	__u16 pad2;
	__u8 src[16];    /* IPv4: first 4 bytes */
	__u8 dst[16];
};

struct xdpnet_acl_shape {
	struct xdpnet_acl_key mask;
	__u32 best; /* the lowest rule index among its entries */
	__u32 pad;
};

enum xdpnet_acl_action {
	XDPNET_ACL_ALLOW = 1,
	XDPNET_ACL_DENY = 2,
};

enum xdpnet_acl_flags {
	XDPNET_ACL_STATEFUL = 1 << 0, /* allow: track it, and let its replies in */
};

struct xdpnet_acl_verdict {
	__u32 rule;   /* index in the policy's rules: the lower, the stronger */
	__u8 action;  /* enum xdpnet_acl_action */
	__u8 flags;   /* enum xdpnet_acl_flags */
	__u16 pad;
};

/* Per generation: how the ACL is searched and what happens without a match. */
struct xdpnet_acl_config {
	__u32 shapes;       /* shapes in use, in search order */
	__u8 default_action; /* enum xdpnet_acl_action */
	__u8 stateful;       /* some rule is stateful: look up replies on deny */
	__u16 pad;
	__u32 timeout_s[XDPNET_TO_MAX]; /* tracked connections (enum xdpnet_ct_timeout) */
	__u32 pad2;
};

/* Per-CPU hits of one rule (xdpnet_aclhits[rule]; [MAX_RULES]: the default). */
struct xdpnet_acl_hits {
	__u64 packets;
	__u64 bytes;
};

/* A connection a stateful rule allowed, stored under the key its replies
 * carry (addresses, ports and VLANs swapped, shape 0). */
struct xdpnet_acl_conn {
	__u64 last_seen_ns;
	__u32 rule;    /* the rule that allowed it */
	__u8 closing;  /* FIN or RST seen: the closing timeout applies */
	__u8 pad[3];
};

/*
 * Per-flow accounting (policy telemetry.flows). A flow is one direction of a
 * 5-tuple on one VLAN through one ingress port. Each CPU owns a region of
 * xdpnet_flows (index cpu << flow_bits | slot) that only it writes, so the
 * counters need no atomics. Slots are 2-way set associative (a pair of
 * neighbours picked by a hash of the key): a new flow takes a free slot of
 * its pair, else the one used longest ago, whose record goes to the
 * xdpnet_flow_events ring buffer first (flow_evicted; flow_lost when the
 * ring is full). Readers (the daemon, `xdpnet flows`) mmap the table and
 * merge a flow's slots across CPUs. The first cache line is all a packet of
 * a known flow touches.
 */
struct xdpnet_flow_key {
	__u8 saddr[16]; /* IPv6, or IPv4-mapped (::ffff:a.b.c.d) */
	__u8 daddr[16];
	__be16 sport;   /* TCP/UDP; 0 for others and later fragments */
	__be16 dport;   /* ICMP and ICMPv6: type << 8 | code */
	__u8 proto;
	__u8 in_slot;   /* ingress port */
	__u16 vid;      /* the classified VLAN; 0 on an uplink */
};

enum xdpnet_flow_flags {
	XDPNET_FLOW_FORWARDED = 1 << 0, /* sent out of a port (out_slot: the last one) */
	XDPNET_FLOW_FLOODED = 1 << 1,   /* flooded to its VLAN */
	XDPNET_FLOW_TO_HOST = 1 << 2,   /* passed to the host stack */
	XDPNET_FLOW_DROPPED = 1 << 3,   /* dropped (drop_reason: the last reason) */
	XDPNET_FLOW_NAT = 1 << 4,       /* translated: nat_* hold the rewrite */
	XDPNET_FLOW_IPV6 = 1 << 5,      /* the key's addresses are IPv6 */
};

#define XDPNET_FLOW_TIME_SHIFT 20 /* `last` is the datapath clock >> this (~1 ms) */
#define XDPNET_FLOW_BITS_MIN 8    /* per CPU, slots: 2^8 .. 2^24 */
#define XDPNET_FLOW_BITS_MAX 24

struct xdpnet_flow {
	struct xdpnet_flow_key key;
	__u64 packets;   /* since the flow took the slot */
	__u64 bytes;     /* IP bytes (header and payload, as IPFIX counts) */
	__u32 last;      /* datapath clock >> XDPNET_FLOW_TIME_SHIFT */
	__u8 tcp_flags;  /* OR of the flags seen */
	__u8 out_slot;   /* last egress port (flags & FORWARDED) */
	__u8 flags;      /* enum xdpnet_flow_flags, OR of every packet's */
	__u8 drop_reason; /* the last drop (enum xdpnet_drop_reason), 0: none */
	/* Second cache line: written when the flow starts, drops or is
	 * translated. */
	__u64 first_ns;  /* datapath clock */
	__u32 serial;    /* per CPU, new for every flow that takes a slot:
			    (index, serial) names one flow's life in a slot */
	__u32 drops;     /* packets dropped */
	__be32 nat_saddr; /* the translation (flags & NAT) */
	__be32 nat_daddr;
	__be16 nat_sport;
	__be16 nat_dport;
	__u8 pad[36];
};

/* The flow table's hash of a key read as five little-endian 64-bit words,
 * and the even slot of the key's pair in a region of 2^bits slots: the top
 * bits of the hash, which every bit of the key reaches (the low bits of a
 * product see only the low bits of its factors, and an IPv4 address's host
 * part sits in its word's top byte). One definition for the datapath, the
 * tests and the bench. */
static inline __u64 xdpnet_flow_hash(const __u64 *w)
{
	__u64 h = (w[0] ^ w[2]) * 0x165667B19E3779F9ULL;

	h ^= w[1] * 0x9E3779B97F4A7C15ULL;
	h ^= w[3] * 0xC2B2AE3D27D4EB4FULL;
	h ^= w[4] * 0x27D4EB2F165667C5ULL;
	return h;
}

static inline __u32 xdpnet_flow_pair(__u64 hash, __u32 bits)
{
	return (__u32)(hash >> (64 - bits)) & ~1u;
}

/* A key's second pair: another of the 16 pairs in its first pair's 4 KiB
 * page (32 slots of 128 bytes; a region starts on a page), picked by the
 * hash mixed again. A key lives in either pair; the datapath looks in the
 * first and only a key not there in the second. Two pairs of two slots
 * (rather than one pair) keep flows from pushing each other out while the
 * table is far from full: three live flows in one pair would evict one
 * another on every packet. The same page, because a new flow reads both
 * pairs: a second page would cost it a page walk of its own. */
#define XDPNET_FLOW_PAGE_SLOTS 32
static inline __u32 xdpnet_flow_pair2(__u64 hash, __u32 bits)
{
	__u32 p = xdpnet_flow_pair(hash, bits);
	__u32 d = (__u32)(((hash ^ (hash >> 29)) * 0xD6E8FEB86659FD93ULL) >> 32) % 15 + 1;

	return (p & ~(__u32)(XDPNET_FLOW_PAGE_SLOTS - 1)) |
	       ((p ^ (d << 1)) & (XDPNET_FLOW_PAGE_SLOTS - 1));
}

/* A record in the xdpnet_flow_events ring buffer: a flow pushed out of its
 * slot by a new one, with its counters as they were. */
struct xdpnet_flow_event {
	struct xdpnet_flow flow;
	__u32 index;     /* its slot in xdpnet_flows */
	__u32 cpu;
};

/* Per CPU (xdpnet_flow_cpu[0]): the flow of the packet being processed, for
 * the stages that record what happened to it. */
struct xdpnet_flow_cpu {
	__u32 cur;       /* slot index + 1; 0: none */
	__u32 serial;    /* the last serial handed out on this CPU */
	__u32 drop;      /* the current packet's drop reason (for capture) */
	__u32 pend;      /* a deferred packet's first pair + 1 (0: none): its slot
			    is found when a stage records on it or the packet
			    leaves, unless its connection counts it (nat.h) */
	struct xdpnet_flow_key key; /* the current packet's, as it is built (not
				       on the stack: the ingress frame is full) */
	__u64 hash;      /* a deferred packet's: the key's hash, */
	__u64 meta;      /* FLOW_META (flow.h), */
	__u64 now;       /* and the datapath clock it arrived at */
};

/*
 * Packet capture (`xdpnet capture`). While xdpnet_capture[0].mode is set and
 * the datapath clock is before until_ns (the capturing process renews it; a
 * killed one stops costing anything a few seconds later), frames of port
 * `slot` (XDPNET_SLOT_NONE: every port) are copied, up to snaplen bytes, into
 * the xdpnet_capture_ring: as received (RX), or as they were when dropped
 * with the drop reason (DROPS); at most `pps` a second per CPU (the rest is
 * counted in xdpnet_capture_rate, not copied).
 */
enum xdpnet_capture_mode {
	XDPNET_CAPTURE_RX = 1,
	XDPNET_CAPTURE_DROPS = 2,
};
#define XDPNET_CAPTURE_SNAPLEN_MAX 1536

struct xdpnet_capture_cfg {
	__u64 until_ns;  /* datapath clock */
	__u32 pps;       /* per CPU */
	__u16 snaplen;   /* 1 .. XDPNET_CAPTURE_SNAPLEN_MAX */
	__u8 mode;       /* enum xdpnet_capture_mode; 0: off */
	__u8 slot;       /* XDPNET_SLOT_NONE: every port */
};

struct xdpnet_capture_hdr {
	__u64 ktime_ns;  /* bpf_ktime_get_ns() (CLOCK_MONOTONIC) */
	__u32 len;       /* the frame's length */
	__u32 caplen;    /* bytes of it in data[] */
	__u32 ifindex;   /* where it arrived */
	__u16 reason;    /* DROPS: the drop reason (0: not known) */
	__u8 slot;
	__u8 mode;       /* what it was captured as */
};

struct xdpnet_capture_rec {
	struct xdpnet_capture_hdr hdr;
	__u8 data[XDPNET_CAPTURE_SNAPLEN_MAX];
};

/* Per CPU: the capture's rate bound over one-second windows. */
struct xdpnet_capture_rate {
	__u64 window;    /* ktime_ns >> 30 */
	__u32 count;     /* copied in this window */
	__u32 skipped;   /* over the bound, all windows */
};

/* Loader/daemon-only (xdpnet_flow_exp, same indices as xdpnet_flows): what
 * the daemon has exported of the flow in each slot, so a restarted daemon
 * neither repeats nor loses records. */
struct xdpnet_flow_exp {
	__u32 serial;    /* the slot's flow these counts belong to */
	__u32 drops;
	__u64 packets;   /* exported so far */
	__u64 bytes;
	__u64 exported_ns; /* datapath clock of the last record (0: none yet) */
};

/* The single live-state record (array index 0). Writing active_gen is the
 * atomic switch between two fully built policy generations. */
struct xdpnet_state {
	__u32 active_gen; /* 0 or 1 */
	__u32 abi_version;
};

/* Loader-only: VLAN offload settings of a port before xdpnet turned them off
 * (and, on uplinks, whether it turned IPv4 forwarding on), restored when the
 * port is detached. */
struct xdpnet_ifsave {
	__u8 rxvlan;
	__u8 txvlan;
	__u8 forwarding; /* uplinks: 1 = xdpnet turned net.ipv4.conf.<if>.forwarding on */
	__u8 pad[5];
};

/* Forwarding database: (VLAN, MAC) -> port. */
struct xdpnet_fdb_key {
	__u16 vlan;
	__u8 mac[6];
};

enum xdpnet_fdb_flags {
	XDPNET_FDB_STATIC = 1 << 0, /* from policy or `fdb add`: never ages, never moves */
	XDPNET_FDB_POLICY = 1 << 1, /* static entry owned by the policy: apply removes it
				       when the policy no longer lists it */
};

struct xdpnet_fdb_entry {
	__u64 last_seen_ns; /* datapath clock (bpf/lib/port.h: clock_ns) of its last frame */
	__u32 ifindex;
	__u16 slot;
	__u8 flags; /* enum xdpnet_fdb_flags */
	__u8 pad;
};

/* Per-CPU exact-match cache in front of xdpnet_fdb: "(vlan, mac) was behind
 * this port at stamp_ns". A hit saves the FDB hash lookup for the source
 * (learning) and for the destination. An entry is used only while it is
 * younger than XDPNET_FDB_CACHE_TTL_NS and its version equals xdpnet_fdbver[0],
 * which every FDB move or removal bumps, so a cached answer is at most that
 * old and normally invalidated at once. */
#define XDPNET_FDB_CACHE_SIZE 4096 /* per CPU, a power of two */
#define XDPNET_FDB_CACHE_TTL_NS 1000000000ULL
struct xdpnet_fdb_cache {
	struct xdpnet_fdb_key key;
	__u64 stamp_ns;
	__u32 version;
	__u32 ifindex;
	__u16 slot;
	__u8 valid;
	__u8 pad[5];
};

/* Housekeeping (array index 0): the in-kernel FDB aging and connection
 * expiry pass. The timer
 * keeps running with no xdpnet process because the map is pinned. */
struct xdpnet_gc {
	struct bpf_timer timer;
	__u64 interval_ns;
	__u64 armed;
	__u64 passes;
	__u64 removed;
	__u64 last_run_ns;
	__u64 ct_removed; /* connections (pairs) the pass expired */
	__u64 ct_every;   /* the connection walk (which visits every slot of the
			     preallocated table) runs every this many passes;
			     0 or 1: every pass */
};

/*
 * Drop reasons. Every XDP_DROP / TC_ACT_SHOT the datapath returns is counted
 * under exactly one of these, per port and per CPU. X(ENUM, "name", "help")
 */
#define XDPNET_DROP_REASONS(X)                                                       \
	X(RUNT, "runt", "frame shorter than an Ethernet header")                      \
	X(TRUNCATED_VLAN, "truncated_vlan", "VLAN tag announced but frame too short") \
	X(TAGGED_ON_ACCESS, "tagged_on_access", "tagged frame on an access port (VLAN hopping)") \
	X(VLAN_NOT_ALLOWED, "vlan_not_allowed", "tag not in the trunk's allowed VLANs") \
	X(NO_NATIVE_VLAN, "no_native_vlan", "untagged frame on a trunk without a native VLAN") \
	X(QINQ, "qinq", "802.1ad or double-tagged frame on a trunk")                   \
	X(BAD_SRC_MAC, "bad_src_mac", "multicast or zero source MAC")                  \
	X(SAME_PORT, "same_port", "destination is behind the ingress port")            \
	X(EGRESS_NOT_MEMBER, "egress_not_member", "FDB port is not in the frame's VLAN") \
	X(NO_FLOOD_PEERS, "no_flood_peers", "no other port in the VLAN to flood to")    \
	X(HEADROOM, "headroom", "could not push or pop a VLAN tag")                    \
	X(NO_TX_PORT, "no_tx_port", "egress port missing from the transmit map")       \
	X(STALE_CONFIG, "stale_config", "port or VLAN missing from the live generation")    \
	X(NO_ROUTE, "no_route", "to the router MAC, but no network holds the destination (or it is a subnet's network/broadcast address, or not IPv4)") \
	X(BAD_L3, "bad_l3", "ARP or IPv4 to the router, truncated or malformed")       \
	X(TTL_EXCEEDED, "ttl_exceeded", "routed packet whose TTL ran out (an ICMP time-exceeded went back)") \
	X(NEIGH_UNRESOLVED, "neigh_unresolved", "routed packet for a neighbour not resolved yet (the router ARPs for it)") \
	X(NAT_NO_PORT, "nat_no_port", "no free source port in the network's port_range for a new connection") \
	X(NAT_LIMIT, "nat_limit", "the network's max_connections reached: new connection refused (existing ones unaffected)") \
	X(CT_FULL, "ct_full", "connection table full: new connection refused (existing ones unaffected)") \
	X(NAT_NOT_SYN, "nat_not_syn", "TCP without SYN and without a tracked connection (NAT needs the start)") \
	X(NAT_PROTO, "nat_proto", "protocol NAT cannot translate (not TCP, UDP or ICMP echo)") \
	X(FRAG_UNKNOWN, "frag_unknown", "IPv4 fragment through the NAT whose first fragment was not seen (or expired)") \
	X(NAT_UNTRACKED, "nat_untracked", "ICMP error from a masquerading network about no tracked connection (it would leak a private address)") \
	X(FRAG_NEEDED, "frag_needed", "larger than the uplink's path MTU with DF set (an ICMP fragmentation-needed went back); without DF: dropped") \
	X(UPLINK_ROUTE, "uplink_route", "the kernel's FIB has no usable route for it through the uplink") \
	X(GW_UNSERVED, "gw_unserved", "to a gateway address but not an unfragmented echo request (gateways answer ARP and ping only)") \
	X(POLICE_IN, "police_ingress", "over the port's ingress (from the VM) rate") \
	X(POLICE_OUT, "police_egress", "over the port's egress (to the VM) rate")     \
	X(LIMIT, "limit", "over a per-address limit (policy limits)")                  \
	X(ACL_DENY, "acl_deny", "denied by an ACL rule or the ACL default")            \
	X(SPOOF_MAC, "spoof_mac", "source MAC the port may not use (port security)")   \
	X(SPOOF_IP, "spoof_ip", "source address the port may not use (port security)") \
	X(SPOOF_ARP, "spoof_arp", "ARP sender MAC or address the port may not claim (port security)") \
	X(SPOOF_ND, "spoof_nd", "IPv6 neighbour discovery claiming an address or MAC the port may not use (port security)") \
	X(DHCP_SERVER, "dhcp_server", "DHCP or DHCPv6 server message from a secured port") \
	X(RA_GUARD, "ra_guard", "IPv6 router advertisement or redirect from a secured port")

/* Events that are not drops: forwarding outcomes and learning. */
#define XDPNET_COUNTERS(X)                                                           \
	X(RX, "rx_packets", "frames received on the port")                           \
	X(RX_BYTES, "rx_bytes", "bytes received on the port")                        \
	X(TX_UNICAST, "tx_unicast", "unicast frames sent out of the port (forwarded, and the router's own replies)") \
	X(TX_FLOOD, "tx_flood", "flooded copies sent out of the port")                \
	X(FLOODED, "flooded", "frames from the port flooded to its VLAN")             \
	X(TO_HOST, "to_host", "frames passed to the host stack")                      \
	X(NOT_PORT, "not_port", "frames on an interface outside the live policy (passed)") \
	X(LEARNED, "learned", "new MACs learned")                                     \
	X(MOVED, "moved", "learned MACs that moved to this port")                     \
	X(LEARN_LIMITED, "learn_limited", "new MACs not learned: port mac_limit reached") \
	X(FDB_FULL, "fdb_full", "new MACs not learned: FDB full")                     \
	X(STATIC_CONFLICT, "static_conflict", "frames from a static MAC on another port (not moved)") \
	X(GW_ARP_REPLY, "gw_arp_replies", "ARP requests for the gateway answered")      \
	X(GW_ECHO_REPLY, "gw_echo_replies", "ICMP echo requests to the gateway answered") \
	X(ROUTED, "routed", "IPv4 packets routed from the port's VLAN to another network") \
	X(ARP_REQUEST, "arp_requests", "ARP requests the router sent for an unknown neighbour") \
	X(NEIGH_LEARNED, "neigh_learned", "neighbours learned or changed from ARP")    \
	X(ICMP_TIME_EXCEEDED, "icmp_time_exceeded", "ICMP time-exceeded messages sent back") \
	X(ICMP_FRAG_NEEDED, "icmp_frag_needed", "ICMP fragmentation-needed messages sent back (path MTU discovery)") \
	X(ARP_TO_ROUTER, "arp_to_router", "ARP replies to the router consumed (after learning)") \
	X(NEIGH_FAILED, "neigh_update_failed", "neighbours seen but not recorded (table update failed)") \
	X(NAT_NEW, "nat_new", "connections translated (SNAT, port forwards, hairpin) created from this port") \
	X(NAT_OUT, "nat_out", "packets sent out of the uplink (translated or routed)") \
	X(NAT_IN, "nat_in", "packets from the uplink translated back or forwarded in") \
	X(NAT_SLOW, "nat_slow", "packets passed to tc so the kernel resolves the uplink's next hop") \
	X(CSUM_COMPLETED, "csum_completed", "TCP/UDP checksums left unfinished by the sender (offload), completed before a rewrite") \
	X(DSCP_MARKED, "dscp_marked", "packets from the port whose DSCP was set (ports[].dscp)") \
	X(REMARKED, "remarked", "packets over a rate that were remarked instead of dropped") \
	X(LIMIT_FULL, "limit_full", "packets of a source the per-address limit table had no room for (the limit's shared bucket applied)") \
	X(ACL_REPLY, "acl_reply", "packets a deny rule matched, let in as replies of a stateful allow") \
	X(ACL_TRACK_FAILED, "acl_track_failed", "stateful allows whose connection could not be recorded (replies may be denied)") \
	X(FLOW_NEW, "flow_new", "flows that took a slot in the flow table")             \
	X(FLOW_EVICTED, "flow_evicted", "flows pushed out of the flow table by a new one (their record went to the daemon)") \
	X(FLOW_LOST, "flow_lost", "flows pushed out while the daemon's ring buffer was full (their last counts are lost)")

#define XDPNET_ENUM_DROP(e, n, h) XDPNET_DROP_##e,
enum xdpnet_drop_reason { XDPNET_DROP_NONE = 0, XDPNET_DROP_REASONS(XDPNET_ENUM_DROP) XDPNET_DROP_MAX };
#undef XDPNET_ENUM_DROP

#define XDPNET_ENUM_CTR(e, n, h) XDPNET_CTR_##e,
enum xdpnet_counter { XDPNET_COUNTERS(XDPNET_ENUM_CTR) XDPNET_CTR_MAX };
#undef XDPNET_ENUM_CTR

/* Per-CPU, per-slot statistics (index XDPNET_SLOT_NONE: not a port). */
struct xdpnet_port_stats {
	__u64 ctr[XDPNET_CTR_MAX];
	__u64 drops[XDPNET_DROP_MAX]; /* drops[0] unused */
};

/* Compile-time size checks, valid in C (BPF and userspace) and C++. */
#ifdef __cplusplus
#define XDPNET_STATIC_ASSERT(c, m) static_assert(c, m)
#else
#define XDPNET_STATIC_ASSERT(c, m) _Static_assert(c, m)
#endif
XDPNET_STATIC_ASSERT(sizeof(struct xdpnet_fdb_key) == 8, "fdb key is 8 bytes");
XDPNET_STATIC_ASSERT(sizeof(struct xdpnet_fdb_entry) == 16, "fdb entry is 16 bytes");
XDPNET_STATIC_ASSERT(sizeof(struct xdpnet_port) == 32 + 512, "port is 544 bytes");
XDPNET_STATIC_ASSERT(sizeof(struct xdpnet_rate) == 24, "rate is 24 bytes");
XDPNET_STATIC_ASSERT(sizeof(struct xdpnet_policer) == 56, "policer is 56 bytes");
XDPNET_STATIC_ASSERT(sizeof(struct xdpnet_bucket) == 32, "bucket is 32 bytes");
XDPNET_STATIC_ASSERT(sizeof(struct xdpnet_limit_key) == 24, "limit key is 24 bytes");
XDPNET_STATIC_ASSERT(sizeof(struct xdpnet_limit) == 64, "limit is 64 bytes");
XDPNET_STATIC_ASSERT(sizeof(struct xdpnet_limit_src) == 24, "limit source is 24 bytes");
XDPNET_STATIC_ASSERT(sizeof(struct xdpnet_psec_mac_key) == 12, "psec mac key is 12 bytes");
XDPNET_STATIC_ASSERT(sizeof(struct xdpnet_psec_ip_key) == 24, "psec ip key is 24 bytes");
XDPNET_STATIC_ASSERT(sizeof(struct xdpnet_acl_key) == 48, "acl key is 48 bytes");
XDPNET_STATIC_ASSERT(sizeof(struct xdpnet_acl_shape) == 56, "acl shape is 56 bytes");
XDPNET_STATIC_ASSERT(sizeof(struct xdpnet_acl_verdict) == 8, "acl verdict is 8 bytes");
XDPNET_STATIC_ASSERT(sizeof(struct xdpnet_acl_config) == 32, "acl config is 32 bytes");
XDPNET_STATIC_ASSERT(sizeof(struct xdpnet_acl_conn) == 16, "acl conn is 16 bytes");
XDPNET_STATIC_ASSERT(sizeof(struct xdpnet_acl_hits) == 16, "acl hits is 16 bytes");
XDPNET_STATIC_ASSERT(XDPNET_GENS * XDPNET_ACL_MAX_SHAPES <= 256, "shape ids fit the key's byte");
XDPNET_STATIC_ASSERT(sizeof(struct xdpnet_vlan) == 256, "vlan is 256 bytes");
XDPNET_STATIC_ASSERT(sizeof(struct xdpnet_subnet) == 12, "subnet is 12 bytes");
XDPNET_STATIC_ASSERT(sizeof(struct xdpnet_config) == 16 + 12 * XDPNET_SUBNETS_INLINE,
		     "config is 16 bytes and the inline subnets");
XDPNET_STATIC_ASSERT(sizeof(struct xdpnet_gateway) == 16, "gateway is 16 bytes");
XDPNET_STATIC_ASSERT(sizeof(struct xdpnet_route_key) == 12, "route key is 12 bytes");
XDPNET_STATIC_ASSERT(sizeof(struct xdpnet_route) == 4, "route is 4 bytes");
XDPNET_STATIC_ASSERT(sizeof(struct xdpnet_netname) == 32, "netname is 32 bytes");
XDPNET_STATIC_ASSERT(sizeof(struct xdpnet_neigh_key) == 8, "neigh key is 8 bytes");
XDPNET_STATIC_ASSERT(sizeof(struct xdpnet_neigh) == 16, "neigh is 16 bytes");
XDPNET_STATIC_ASSERT(sizeof(struct xdpnet_nat_config) == 40, "nat config is 40 bytes");
XDPNET_STATIC_ASSERT(sizeof(struct xdpnet_fwd_key) == 8, "fwd key is 8 bytes");
XDPNET_STATIC_ASSERT(sizeof(struct xdpnet_fwd) == 8, "fwd is 8 bytes");
XDPNET_STATIC_ASSERT(sizeof(struct xdpnet_ct_key) == 16, "ct key is 16 bytes");
XDPNET_STATIC_ASSERT(sizeof(struct xdpnet_ct) == 64, "ct is one cache line");
XDPNET_STATIC_ASSERT(sizeof(struct xdpnet_meta) == 8, "meta is 8 bytes");
XDPNET_STATIC_ASSERT(sizeof(struct xdpnet_nh_cache) == 40, "nh cache entry is 40 bytes");
XDPNET_STATIC_ASSERT((XDPNET_NH_CACHE_SIZE & (XDPNET_NH_CACHE_SIZE - 1)) == 0, "nh cache size is a power of two");
XDPNET_STATIC_ASSERT(sizeof(struct xdpnet_frag_key) == 12, "frag key is 12 bytes");
XDPNET_STATIC_ASSERT(sizeof(struct xdpnet_frag) == 24, "frag is 24 bytes");
XDPNET_STATIC_ASSERT(sizeof(struct xdpnet_state) == 8, "state is 8 bytes");
XDPNET_STATIC_ASSERT(sizeof(struct xdpnet_flow_key) == 40, "flow key is 40 bytes");
XDPNET_STATIC_ASSERT(sizeof(struct xdpnet_flow) == 128, "flow is two cache lines");
XDPNET_STATIC_ASSERT(__builtin_offsetof(struct xdpnet_flow, first_ns) == 64, "a known flow's packet touches one line");
XDPNET_STATIC_ASSERT(XDPNET_FLOW_PAGE_SLOTS * sizeof(struct xdpnet_flow) == 4096 &&
		     (1 << XDPNET_FLOW_BITS_MIN) >= XDPNET_FLOW_PAGE_SLOTS,
		     "a key's two pairs share a page of its region");
XDPNET_STATIC_ASSERT(sizeof(struct xdpnet_flow_event) == 136, "flow event is 136 bytes");
XDPNET_STATIC_ASSERT(sizeof(struct xdpnet_flow_cpu) == 80, "flow cpu is 80 bytes");
XDPNET_STATIC_ASSERT(sizeof(struct xdpnet_capture_cfg) == 16, "capture cfg is 16 bytes");
XDPNET_STATIC_ASSERT(sizeof(struct xdpnet_capture_hdr) == 24, "capture header is 24 bytes");
XDPNET_STATIC_ASSERT(sizeof(struct xdpnet_capture_rate) == 16, "capture rate is 16 bytes");
XDPNET_STATIC_ASSERT(sizeof(struct xdpnet_flow_exp) == 32, "flow exp is 32 bytes");
XDPNET_STATIC_ASSERT(sizeof(struct xdpnet_gc) == 72, "gc is 72 bytes");
XDPNET_STATIC_ASSERT(sizeof(struct xdpnet_ifsave) == 8, "ifsave is 8 bytes");
XDPNET_STATIC_ASSERT(sizeof(struct xdpnet_fdb_cache) == 32, "fdb cache entry is 32 bytes");
XDPNET_STATIC_ASSERT((XDPNET_FDB_CACHE_SIZE & (XDPNET_FDB_CACHE_SIZE - 1)) == 0, "cache size is a power of two");
XDPNET_STATIC_ASSERT(XDPNET_MAX_PORTS <= XDPNET_VLAN_MAX_MEMBERS, "vlan member list holds every slot");

#endif /* XDPNET_ABI_H */
