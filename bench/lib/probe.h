/* ICMP echo probes for the start benchmarks (bench/boot, bench/spike): "answering ping from a
 * peer", sent from the node's namespace over a raw socket. */
#pragma once

#include <stdint.h>

#include "lib/addr.h"

/* A raw ICMP socket, or -errno. */
int sf_probe_open(void);
/* One echo request to ip (IPv4, text) with this identifier and sequence number. */
void sf_probe_send(int fd, const char *ip, uint16_t id, uint16_t seq);
/* Waits up to timeout_ms for an echo reply: 1 with its source address in from, 0 when none
 * came, -errno on an error. Other ICMP traffic is skipped. */
int sf_probe_recv(int fd, int timeout_ms, char from[SF_ADDR_STRLEN]);
