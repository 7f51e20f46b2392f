/* bbu: BBU stand-in (baseband unit) for the 5G/MEC demonstrator. Terminates the fronthaul
 * tunnel frames from the RRH, checks them (header, TEID) and carries them on over the backhaul
 * link (S1-U stand-in) to the EPC. */
#include "sfw-hop.h"

int main(int argc, char **argv)
{
        static const struct sfw_hop_desc d = {
                .prog = "bbu",
                .role = "BBU stand-in",
                .summary = "BBU stand-in (baseband unit) of the 5G/MEC demonstrator: no baseband processing.\n"
                           "Accepts tunnel sessions from the RRH on the fronthaul link, checks every\n"
                           "GTP-U-like frame (header, length, one TEID per session) and forwards them\n"
                           "over the backhaul link (S1-U stand-in) to the EPC. Counts sessions, bytes and\n"
                           "frames both ways.",
                .details = "Data path: UE -radio-> RRH -fronthaul-> BBU -backhaul-> EPC -sgi-> TOF -mec-> video.\n"
                           "Example: bbu --listen 0.0.0.0:2152 --upstream 10.61.3.2:2152\n",
                .listen_def = "0.0.0.0:2152",
                .down_link = "fronthaul",
                .up_link = "backhaul",
                .up_peer = "EPC on the backhaul link",
                .down_framed = true,
                .up_framed = true,
        };
        return sfw_hop_main(argc, argv, &d);
}
