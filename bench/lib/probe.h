/* ICMP echo probes for the start benchmarks (bench/boot, bench/spike): "answering ping from a
 * peer", sent from the node's namespace over a raw socket. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/addr.h"

/* A container probed once it is reported Running ("process running and answering ping"). The
 * fields the caller's threads share with the probe loop are read and written atomically. */
struct sf_probe_target {
        char ip[SF_ADDR_STRLEN];
        bool have_ip;       /* ip is known (the controller's choice comes with the Running status) */
        uint64_t t_running; /* monotonic usec it was reported Running: probing starts */
        uint64_t t_probe;   /* the last probe sent */
        uint64_t t_ping;    /* the answer came */
        bool failed;        /* it will never run: not waited for */
};

/* A raw ICMP socket, or -errno. */
int sf_probe_open(void);
/* One echo request to ip (IPv4, text) with this identifier and sequence number. */
void sf_probe_send(int fd, const char *ip, uint16_t id, uint16_t seq);
/* Takes the target's address from a Running status (its "ips"), unless it has one already
 * (chosen by the client): false when the status names none. */
bool sf_probe_address_from_status(struct sf_probe_target *t, json_t *status);
/* The first probe of a target, when its Running report is seen (t_running set before). */
void sf_probe_running(int fd, uint16_t id, struct sf_probe_target *t, uint16_t seq);
/* Probes each target reported Running every 2 ms until it answers (target i with sequence
 * number i), and records the answers. Returns when every target answered or failed (failures
 * are counted once *settled is true: no new ones come after), or at deadline (monotonic usec).
 * Probing only from the Running report on keeps the node from sending ARP requests over the
 * bridge for every address not plumbed yet, load the bare-runtime baselines do not carry. */
void sf_probe_loop(int fd, uint16_t id, struct sf_probe_target *const *targets, int n,
                   const volatile bool *settled, uint64_t deadline);
/* Waits up to timeout_ms for an echo reply: 1 with its source address in from, 0 when none
 * came, -errno on an error. Other ICMP traffic is skipped. */
int sf_probe_recv(int fd, int timeout_ms, char from[SF_ADDR_STRLEN]);
