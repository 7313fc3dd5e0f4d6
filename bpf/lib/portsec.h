/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* Stage 2b: port security. A secured port (policy ports[].security) may
 * send only from its listed MACs and addresses, and claim only those in ARP
 * and IPv6 neighbour discovery; it may not act as a DHCP server or an IPv6
 * router. Runs before learning, so a spoofed MAC is never learned. */
#ifndef XDPNET_BPF_PORTSEC_H
#define XDPNET_BPF_PORTSEC_H
#include <linux/icmpv6.h>
#include <linux/udp.h>

#include "common.h"
#include "ipinfo.h"
#include "../../maps/qos.h"

#define ND_ROUTER_ADVERT 134
#define ND_NEIGHBOUR_SOLICIT 135
#define ND_NEIGHBOUR_ADVERT 136
#define ND_REDIRECT 137
#define ND_OPT_SOURCE_LL 1
#define ND_OPT_TARGET_LL 2
#define ND_OPTS_MAX 16     /* options checked in an NS/NA; more is refused (spoof_nd) */
#define DHCP_SERVER_PORT 67
#define DHCP_CLIENT_PORT 68
#define DHCP6_SERVER_PORT 547

static __always_inline int psec_mac_ok(__u32 gen, __u16 slot, const __u8 *mac)
{
	struct xdpnet_psec_mac_key k = { .gen = gen, .slot = slot };

	__builtin_memcpy(k.mac, mac, ETH_ALEN);
	return bpf_map_lookup_elem(&xdpnet_psec_mac, &k) != 0;
}

/* addr: 4 or 16 bytes by family. */
static __always_inline int psec_ip_ok(__u32 gen, __u16 slot, __u8 family, const __u8 *addr)
{
	struct xdpnet_psec_ip_key k = { .gen = gen, .family = family, .slot = slot };

	if (family == 4) {
		k.prefixlen = 32 + 32;
		__builtin_memcpy(k.addr, addr, 4);
	} else {
		k.prefixlen = 32 + 128;
		__builtin_memcpy(k.addr, addr, 16);
	}
	return bpf_map_lookup_elem(&xdpnet_psec_ip, &k) != 0;
}

static __always_inline int arp_secure(const struct pkt *p, __u32 gen, const struct xdpnet_port *in)
{
	struct arp_ipv4 *arp = p->data + l2_len(p);

	if ((void *)(arp + 1) > p->end)
		return XDPNET_DROP_BAD_L3;
	/* The sender MAC is usually the frame's source, checked already. */
	if ((in->flags & XDPNET_PORT_SEC_MAC) && !mac_equal(arp->sha, p->eth->h_source) &&
	    !psec_mac_ok(gen, in->slot, arp->sha))
		return XDPNET_DROP_SPOOF_ARP;
	/* 0.0.0.0: an address probe (RFC 5227), claims nothing. */
	if ((in->flags & XDPNET_PORT_SEC_IP) && *(__u32 *)arp->spa != 0 &&
	    !psec_ip_ok(gen, in->slot, 4, arp->spa))
		return XDPNET_DROP_SPOOF_ARP;
	return STAGE_CONTINUE;
}

/* ICMPv6 from a secured port: no router adverts or redirects; neighbour
 * solicitations and adverts claim only its MACs (every link-layer option:
 * Linux takes the first of each type wherever it sits), adverts only its
 * addresses (RFC 6980: neighbour discovery is never fragmented). A message
 * with more options than ND_OPTS_MAX is refused rather than half-checked. */
static __always_inline int nd_secure(const struct pkt *p, const struct ipinfo *ii, __u32 gen,
				     const struct xdpnet_port *in)
{
	struct icmp6hdr *ic = ii->l4;
	__u8 *opt;

	if ((void *)(ic + 1) > p->end)
		return XDPNET_DROP_BAD_L3;
	if (ic->icmp6_type == ND_ROUTER_ADVERT || ic->icmp6_type == ND_REDIRECT)
		return (in->flags & XDPNET_PORT_SEC_GUARD) ? XDPNET_DROP_RA_GUARD : STAGE_CONTINUE;
	if (ic->icmp6_type != ND_NEIGHBOUR_SOLICIT && ic->icmp6_type != ND_NEIGHBOUR_ADVERT)
		return STAGE_CONTINUE;
	if (ii->frag)
		return XDPNET_DROP_SPOOF_ND;
	/* icmp6hdr (8) + target address (16), then options. */
	opt = (void *)(ic + 1) + 16;
	if ((void *)opt > p->end)
		return XDPNET_DROP_BAD_L3;
	if (ic->icmp6_type == ND_NEIGHBOUR_ADVERT && (in->flags & XDPNET_PORT_SEC_IP) &&
	    !psec_ip_ok(gen, in->slot, 6, (__u8 *)(ic + 1)))
		return XDPNET_DROP_SPOOF_ND;
	if (!(in->flags & XDPNET_PORT_SEC_MAC))
		return STAGE_CONTINUE;
	for (int i = 0; i < ND_OPTS_MAX; i++) {
		if ((void *)(opt + 8) > p->end || opt[1] == 0)
			return STAGE_CONTINUE; /* the end (or a malformed zero length) */
		if ((opt[0] == ND_OPT_SOURCE_LL || opt[0] == ND_OPT_TARGET_LL) &&
		    !psec_mac_ok(gen, in->slot, opt + 2))
			return XDPNET_DROP_SPOOF_ND;
		opt += opt[1] * 8;
	}
	return (void *)(opt + 8) > p->end ? STAGE_CONTINUE : XDPNET_DROP_SPOOF_ND;
}

/* Returns STAGE_CONTINUE or a drop reason. ii is the frame's parsed IP. */
static __always_inline int port_secure(const struct pkt *p, const struct ipinfo *ii, __u32 gen,
				       const struct xdpnet_port *in)
{
	const int guard = in->flags & XDPNET_PORT_SEC_GUARD;

	if ((in->flags & XDPNET_PORT_SEC_MAC) && !psec_mac_ok(gen, in->slot, p->eth->h_source))
		return XDPNET_DROP_SPOOF_MAC;
	if (!ii->family)
		return l3_proto(p) == bpf_htons(ETH_P_ARP) ? arp_secure(p, gen, in) : STAGE_CONTINUE;

	if (ii->proto == IPPROTO_UDP && guard &&
	    ii->sport == bpf_htons(ii->family == 4 ? DHCP_SERVER_PORT : DHCP6_SERVER_PORT))
		return XDPNET_DROP_DHCP_SERVER;
	if (in->flags & XDPNET_PORT_SEC_IP) {
		const __u8 *src = ip_src(ii);

		if (ii->family == 4) {
			/* 0.0.0.0 only as a DHCP client looking for its address. */
			if (*(__u32 *)src == 0) {
				if (ii->proto != IPPROTO_UDP ||
				    ii->sport != bpf_htons(DHCP_CLIENT_PORT) ||
				    ii->dport != bpf_htons(DHCP_SERVER_PORT))
					return XDPNET_DROP_SPOOF_IP;
			} else if (!psec_ip_ok(gen, in->slot, 4, src)) {
				return XDPNET_DROP_SPOOF_IP;
			}
		} else {
			const __u64 *s64 = (const __u64 *)src;

			/* :: only for duplicate address detection and MLD (ICMPv6). */
			if ((s64[0] | s64[1]) == 0) {
				if (ii->proto != IPPROTO_ICMPV6)
					return XDPNET_DROP_SPOOF_IP;
			} else if (!psec_ip_ok(gen, in->slot, 6, src)) {
				return XDPNET_DROP_SPOOF_IP;
			}
		}
	}
	if (ii->family == 6 && ii->proto == IPPROTO_ICMPV6 && ii->l4)
		return nd_secure(p, ii, gen, in);
	return STAGE_CONTINUE;
}

#endif
