/* epc: EPC stand-in (S-GW/P-GW user plane) for the 5G/MEC demonstrator. Terminates the tunnel
 * sessions arriving from the BBU on the backhaul link and forwards their payload as plain TCP on
 * the SGi link toward the packet data network (the TOF, then the video service). */
#include "sfw-hop.h"

int main(int argc, char **argv)
{
        static const struct sfw_hop_desc d = {
                .prog = "epc",
                .role = "EPC stand-in",
                .summary = "EPC stand-in (S-GW/P-GW user plane) of the 5G/MEC demonstrator: no MME, no\n"
                           "signalling. Accepts tunnel sessions from the BBU on the backhaul link,\n"
                           "decapsulates the GTP-U-like frames and forwards the payload as plain TCP on\n"
                           "the SGi link to the packet data network: the TOF's service port. Counts\n"
                           "sessions, bytes and frames both ways.",
                .details = "Data path: UE -radio-> RRH -fronthaul-> BBU -backhaul-> EPC -sgi-> TOF -mec-> video.\n"
                           "Example: epc --listen 0.0.0.0:2152 --upstream 10.61.4.2:8080\n",
                .listen_def = "0.0.0.0:2152",
                .down_link = "backhaul",
                .up_link = "sgi",
                .up_peer = "TOF service port on the SGi link",
                .down_framed = true,
                .up_framed = false,
        };
        return sfw_hop_main(argc, argv, &d);
}
