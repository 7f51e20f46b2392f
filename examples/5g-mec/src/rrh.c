/* rrh: RRH stand-in (remote radio head) for the 5G/MEC demonstrator. The UE "attaches" by
 * opening TCP connections to it on the radio link; each connection becomes a tunnel session
 * (a new TEID) carried in GTP-U-like frames over the fronthaul link to the BBU. */
#include "sfw-hop.h"

int main(int argc, char **argv)
{
        static const struct sfw_hop_desc d = {
                .prog = "rrh",
                .role = "RRH stand-in",
                .summary = "RRH stand-in (remote radio head) of the 5G/MEC demonstrator: not a radio.\n"
                           "Accepts the UE's TCP connections on the radio link (the air interface\n"
                           "stand-in), opens one tunnel per connection with a new TEID, and carries it\n"
                           "in GTP-U-like frames (8-byte GTP-U v1 G-PDU header over TCP) over the\n"
                           "fronthaul link to the BBU. Counts sessions, bytes and packets both ways.",
                .details = "Data path: UE -radio-> RRH -fronthaul-> BBU -backhaul-> EPC -sgi-> TOF -mec-> video.\n"
                           "Example: rrh --listen 0.0.0.0:7000 --upstream 10.61.2.2:2152\n",
                .listen_def = "0.0.0.0:7000",
                .down_link = "radio",
                .up_link = "fronthaul",
                .up_peer = "BBU on the fronthaul link",
                .down_framed = false,
                .up_framed = true,
        };
        return sfw_hop_main(argc, argv, &d);
}
