/* sf-vlan-test: a test-only command line over the BPF VLAN datapath (src/net/vlan-bpf.c), so
 * tests/system/trunk-*.sh can tag a guest's frames where there is no 8021q (the guest side of an
 * emulated VM), read the counters and check that nothing is left. Not installed.
 * Acts in the namespace it runs in (use ip netns exec). Prints JSON. */
#include <net/if.h>

#include "lib/json.h"
#include "lib/util.h"
#include "net/vlan-bpf.h"

static int fail(sf_err *e)
{
        fprintf(stderr, "sf-vlan-test: %s%s%s\n", e->field ? e->field : "", e->field ? ": " : "",
                sf_err_msg(e));
        return 1;
}

static int usage(void)
{
        fputs("usage: sf-vlan-test COMMAND TRUNK_IF ...\n"
              "  attach TRUNK_IF [VID:PORT_IF]...  load (or take over) the datapath, map VLANs\n"
              "  unset TRUNK_IF VID...              forget VLANs\n"
              "  show TRUNK_IF                      subports, counters and kernel ids (JSON)\n"
              "  query IF                           id of our program on IF (0: none)\n"
              "  remove TRUNK_IF                    take everything off\n",
              stderr);
        return 2;
}

static int ifindex_of(const char *name, sf_err *e)
{
        unsigned i = if_nametoindex(name);
        if (!i)
                return sf_err_errno(e, -errno, "interface '%s'", name);
        return (int) i;
}

int main(int argc, char **argv)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_vlan_bpf_ sf_vlan_bpf *b = NULL;
        const char *cmd;
        int trunk;

        if (argc < 3)
                return usage();
        cmd = argv[1];
        trunk = ifindex_of(argv[2], &e);
        if (trunk < 0)
                return fail(&e);
        if (STREQ(cmd, "query")) {
                uint32_t id = 0;
                if (sf_vlan_bpf_query(trunk, &id, &e) < 0)
                        return fail(&e);
                printf("%u\n", id);
                return 0;
        }
        if (sf_vlan_bpf_open(trunk, SF_VLAN_BPF_REDIRECT, STREQ(cmd, "attach"), &b, &e) < 0)
                return fail(&e);
        if (STREQ(cmd, "attach")) {
                for (int i = 3; i < argc; i++) {
                        unsigned vid;
                        char ifname[IF_NAMESIZE + 1];
                        int port;
                        if (sscanf(argv[i], "%u:%16s", &vid, ifname) != 2)
                                return usage();
                        port = ifindex_of(ifname, &e);
                        if (port < 0 || sf_vlan_bpf_set(b, vid, port, &e) < 0)
                                return fail(&e);
                }
                return 0;
        }
        if (STREQ(cmd, "unset")) {
                for (int i = 3; i < argc; i++)
                        if (sf_vlan_bpf_unset(b, (unsigned) atoi(argv[i]), &e) < 0)
                                return fail(&e);
                return 0;
        }
        if (STREQ(cmd, "remove")) {
                int r = sf_vlan_bpf_remove(TAKE_PTR(b), &e);
                return r < 0 ? fail(&e) : 0;
        }
        if (STREQ(cmd, "show")) {
                _cleanup_free_ sf_vlan_bpf_entry *v = NULL;
                _cleanup_free_ char *out = NULL;
                json_auto_t *j = json_object(), *subs = json_array();
                sf_vlan_bpf_stats st;
                sf_vlan_bpf_ids ids;
                size_t n = 0;
                if (sf_vlan_bpf_list(b, &v, &n, &e) < 0 || sf_vlan_bpf_get_stats(b, &st, &e) < 0)
                        return fail(&e);
                sf_vlan_bpf_get_ids(b, &ids);
                for (size_t i = 0; i < n; i++)
                        json_array_append_new(subs, json_pack("{s:i, s:i}", "vid", (int) v[i].vid,
                                                              "ifindex", v[i].ifindex));
                json_object_set(j, "subports", subs);
                json_object_set_new(j, "counters",
                                    json_pack("{s:I, s:I, s:I, s:I}", "demuxed", (json_int_t) st.demux_packets,
                                              "muxed", (json_int_t) st.mux_packets, "dropped_unknown_vlan",
                                              (json_int_t) st.drop_unknown_vlan_packets, "dropped_other",
                                              (json_int_t) st.drop_other_packets));
                json_object_set_new(j, "prog_ids", json_pack("[i, i]", (int) ids.demux_prog, (int) ids.mux_prog));
                json_object_set_new(j, "map_ids", json_pack("[i, i, i, i]", (int) ids.cfg_map, (int) ids.vid2if_map,
                                                            (int) ids.if2vid_map, (int) ids.cnt_map));
                out = sf_json_dumps(j);
                printf("%s\n", out);
                return 0;
        }
        return usage();
}
