/* sfw-hop: main program of a relay hop (rrh, bbu, epc). */
#pragma once

#include "sfw.h"

struct sfw_hop_desc {
        const char *prog, *role, *summary, *details;
        const char *listen_def;
        const char *down_link, *up_link; /* link names for logs and counters */
        const char *up_peer;             /* "BBU", for messages */
        bool down_framed, up_framed;
};

int sfw_hop_main(int argc, char **argv, const struct sfw_hop_desc *d);
