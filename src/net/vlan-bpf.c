/* The BPF VLAN datapath of a trunk device: the embedded object (bpf/vlan-demux.bpf.c) loaded
 * through libbpf, attached with tc clsact, its maps kept in step with the subports, and found
 * again after a restart through the filter on the trunk device. */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <pthread.h>

#include "lib/log.h"
#include "lib/macro.h"
#include "net/bpf/vlan-bpf-abi.h"
#include "net/libbpf-setup.h"
#include "net/vlan-bpf.h"
#include "net/vlan-demux.bpf.h" /* generated: sf_vlan_bpf_obj[], the compiled object */

SF_LOG_MODULE("vlan-bpf");

struct sf_vlan_bpf {
        struct bpf_object *obj;
        int demux_fd, mux_fd;              /* owned by obj */
        int cfg_fd, vid2if_fd, if2vid_fd, cnt_fd; /* owned by obj */
        int trunk_ifindex;
        sf_vlan_bpf_mode mode;
};

static const char *const map_names[] = { "sf_vlan_cfg", "sf_vid2if", "sf_if2vid", "sf_vlan_cnt" };

static void hook_for(int ifindex, struct bpf_tc_hook *h)
{
        memset(h, 0, sizeof(*h));
        h->sz = sizeof(*h);
        h->ifindex = ifindex;
        h->attach_point = BPF_TC_INGRESS;
}

static void opts_for(int prog_fd, struct bpf_tc_opts *o)
{
        memset(o, 0, sizeof(*o));
        o->sz = sizeof(*o);
        o->handle = SF_VLAN_BPF_HANDLE;
        o->priority = SF_VLAN_BPF_PRIO;
        o->prog_fd = prog_fd;
        o->flags = prog_fd > 0 ? BPF_TC_F_REPLACE : 0;
}

static char *ifname_of(int ifindex)
{
        char buf[IF_NAMESIZE];
        if (if_indextoname((unsigned) ifindex, buf))
                return xasprintf("'%s'", buf);
        return xasprintf("ifindex %d", ifindex);
}

int sf_vlan_bpf_query(int ifindex, uint32_t *ret_prog_id, sf_err *e)
{
        struct bpf_tc_hook h;
        struct bpf_tc_opts o;
        int r;
        sf_libbpf_setup();
        hook_for(ifindex, &h);
        opts_for(0, &o);
        r = bpf_tc_query(&h, &o);
        if (r == -ENOENT || r == -EINVAL) { /* no filter, or no clsact qdisc */
                *ret_prog_id = 0;
                return 0;
        }
        if (r < 0) {
                _cleanup_free_ char *n = ifname_of(ifindex);
                return sf_err_errno(e, r, "query the tc filter on %s", n);
        }
        *ret_prog_id = o.prog_id;
        return 0;
}

/* Attaches prog_fd on ifindex's ingress, creating the clsact qdisc when needed. */
static int attach(int ifindex, int prog_fd, const char *what, sf_err *e)
{
        struct bpf_tc_hook h;
        struct bpf_tc_opts o;
        int r;
        hook_for(ifindex, &h);
        r = bpf_tc_hook_create(&h);
        if (r < 0 && r != -EEXIST) {
                _cleanup_free_ char *n = ifname_of(ifindex);
                return sf_err_errno(e, r, "add the clsact qdisc to %s", n);
        }
        opts_for(prog_fd, &o);
        r = bpf_tc_attach(&h, &o);
        if (r < 0) {
                _cleanup_free_ char *n = ifname_of(ifindex);
                return sf_err_errno(e, r, "attach %s to the ingress of %s", what, n);
        }
        return 0;
}

int sf_vlan_bpf_detach(int ifindex, bool remove_qdisc, sf_err *e)
{
        struct bpf_tc_hook h;
        struct bpf_tc_opts o;
        int r;
        sf_libbpf_setup();
        hook_for(ifindex, &h);
        opts_for(0, &o);
        r = bpf_tc_detach(&h, &o);
        if (r < 0 && r != -ENOENT && r != -ENODEV && r != -EINVAL) {
                _cleanup_free_ char *n = ifname_of(ifindex);
                return sf_err_errno(e, r, "detach the VLAN program from %s", n);
        }
        if (!remove_qdisc)
                return 0;
        h.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS; /* the whole clsact qdisc */
        r = bpf_tc_hook_destroy(&h);
        if (r < 0 && r != -ENOENT && r != -ENODEV && r != -EINVAL) {
                _cleanup_free_ char *n = ifname_of(ifindex);
                return sf_err_errno(e, r, "remove the clsact qdisc of %s", n);
        }
        return 0;
}

/* The maps of the program attached on a trunk device, in map_names order (-1: not found):
 * those sf_vlan_demux uses, and sf_if2vid through the id sf_vlan_cfg records. */
static int find_maps(uint32_t prog_id, int fds[4], sf_err *e)
{
        _cleanup_close_ int pfd = bpf_prog_get_fd_by_id(prog_id);
        struct bpf_prog_info info = { 0 };
        struct sf_vlan_cfg cfg = { 0 };
        uint32_t ids[8] = { 0 }, len = sizeof(info), zero = 0;
        int r;

        for (int i = 0; i < 4; i++)
                fds[i] = -1;
        if (pfd < 0)
                return sf_err_errno(e, -errno, "open BPF program %u", prog_id);
        info.nr_map_ids = ELEMENTSOF(ids);
        info.map_ids = (uint64_t) (uintptr_t) ids;
        r = bpf_obj_get_info_by_fd(pfd, &info, &len);
        if (r < 0)
                return sf_err_errno(e, r, "inspect BPF program %u", prog_id);
        if (!STREQ(info.name, "sf_vlan_demux"))
                return sf_err_set(e, -EEXIST, NULL,
                                  "another program ('%.16s', id %u) holds our tc filter slot",
                                  info.name, prog_id);
        for (uint32_t k = 0; k < MIN(info.nr_map_ids, (uint32_t) ELEMENTSOF(ids)); k++) {
                struct bpf_map_info mi = { 0 };
                uint32_t ml = sizeof(mi);
                int mfd = bpf_map_get_fd_by_id(ids[k]);
                bool kept = false;
                if (mfd < 0)
                        continue;
                if (bpf_obj_get_info_by_fd(mfd, &mi, &ml) == 0)
                        for (int i = 0; i < 4; i++)
                                if (fds[i] < 0 && STREQ(mi.name, map_names[i])) {
                                        fds[i] = mfd;
                                        kept = true;
                                }
                if (!kept)
                        close(mfd);
        }
        if (fds[0] >= 0 && fds[2] < 0 && bpf_map_lookup_elem(fds[0], &zero, &cfg) == 0 &&
            cfg.if2vid_map_id) {
                fds[2] = bpf_map_get_fd_by_id(cfg.if2vid_map_id);
                if (fds[2] < 0)
                        fds[2] = -1;
        }
        return 0;
}

static void close_fds(int fds[4])
{
        for (int i = 0; i < 4; i++)
                closep(&fds[i]);
}

/* Opens and loads the embedded object; with reuse (4 map fds), on those maps. */
static int load(const int *reuse, sf_vlan_bpf **ret, sf_err *e)
{
        LIBBPF_OPTS(bpf_object_open_opts, oo, .object_name = "sf_vlan");
        sf_vlan_bpf *b;
        struct bpf_map *maps[4];
        int r;

        b = new0(sf_vlan_bpf, 1);
        b->obj = bpf_object__open_mem(sf_vlan_bpf_obj, sizeof(sf_vlan_bpf_obj), &oo);
        if (!b->obj) {
                r = sf_err_errno(e, -errno, "open the BPF VLAN object");
                free(b);
                return r;
        }
        for (int i = 0; i < 4; i++) {
                maps[i] = bpf_object__find_map_by_name(b->obj, map_names[i]);
                if (!maps[i]) {
                        r = sf_err_set(e, -EIO, NULL, "the BPF VLAN object has no map '%s'", map_names[i]);
                        goto fail;
                }
                if (reuse && (r = bpf_map__reuse_fd(maps[i], reuse[i])) < 0) {
                        sf_err_errno(e, r, "reuse map '%s'", map_names[i]);
                        goto fail;
                }
        }
        r = bpf_object__load(b->obj);
        if (r < 0) {
                sf_err_errno(e, r, "load the BPF VLAN programs (is the kernel's BPF enabled, and are we "
                                   "privileged?)");
                goto fail;
        }
        b->demux_fd = bpf_program__fd(bpf_object__find_program_by_name(b->obj, "sf_vlan_demux"));
        b->mux_fd = bpf_program__fd(bpf_object__find_program_by_name(b->obj, "sf_vlan_mux"));
        b->cfg_fd = bpf_map__fd(maps[0]);
        b->vid2if_fd = bpf_map__fd(maps[1]);
        b->if2vid_fd = bpf_map__fd(maps[2]);
        b->cnt_fd = bpf_map__fd(maps[3]);
        if (b->demux_fd < 0 || b->mux_fd < 0) {
                r = sf_err_set(e, -EIO, NULL, "the BPF VLAN object lacks its programs");
                goto fail;
        }
        *ret = b;
        return 0;
fail:
        bpf_object__close(b->obj);
        free(b);
        return r;
}

static uint32_t map_id_of(int fd);

static int write_cfg(sf_vlan_bpf *b, sf_err *e)
{
        struct sf_vlan_cfg cfg = { .trunk_ifindex = (uint32_t) b->trunk_ifindex,
                                   .mode = b->mode,
                                   .if2vid_map_id = map_id_of(b->if2vid_fd) };
        uint32_t zero = 0;
        int r = bpf_map_update_elem(b->cfg_fd, &zero, &cfg, BPF_ANY);
        return r < 0 ? sf_err_errno(e, r, "write the VLAN datapath's configuration") : 0;
}

int sf_vlan_bpf_open(int trunk_ifindex, sf_vlan_bpf_mode mode, bool create, sf_vlan_bpf **ret,
                     sf_err *e)
{
        sf_vlan_bpf *b = NULL;
        uint32_t prog_id = 0;
        int fds[4] = { -1, -1, -1, -1 };
        int r;

        sf_libbpf_setup();
        r = sf_vlan_bpf_query(trunk_ifindex, &prog_id, e);
        if (r < 0)
                return r;
        if (!prog_id && !create)
                return sf_err_set(e, -ENOENT, NULL, "no VLAN program on ifindex %d", trunk_ifindex);
        if (prog_id) {
                /* Adopt: new programs on the same maps, so the subports and counters stay. */
                r = find_maps(prog_id, fds, e);
                if (r >= 0 && (fds[0] < 0 || fds[1] < 0 || fds[2] < 0 || fds[3] < 0))
                        r = sf_err_set(e, -EIO, NULL, "the VLAN program %u lacks its maps", prog_id);
                if (r >= 0)
                        r = load(fds, &b, e);
                close_fds(fds);
                if (r < 0) {
                        /* An incompatible object (an older build): start again from nothing;
                         * the caller sets the subports again. */
                        if (!create)
                                return r;
                        log_warn("cannot take over the VLAN program %u on ifindex %d (%s): "
                                 "replacing it", prog_id, trunk_ifindex, sf_err_msg(e));
                        sf_err_clear(e);
                }
        }
        if (!b) {
                r = load(NULL, &b, e);
                if (r < 0)
                        return r;
        }
        b->trunk_ifindex = trunk_ifindex;
        b->mode = mode;
        r = write_cfg(b, e);
        if (r >= 0)
                r = attach(trunk_ifindex, b->demux_fd, "the VLAN demux program", e);
        if (r < 0) {
                sf_vlan_bpf_free(b);
                return r;
        }
        *ret = b;
        return 0;
}

void sf_vlan_bpf_free(sf_vlan_bpf *b)
{
        if (!b)
                return;
        bpf_object__close(b->obj);
        free(b);
}

int sf_vlan_bpf_trunk_ifindex(const sf_vlan_bpf *b) { return b->trunk_ifindex; }
sf_vlan_bpf_mode sf_vlan_bpf_get_mode(const sf_vlan_bpf *b) { return b->mode; }

static int check_vid(unsigned vid, sf_err *e)
{
        if (vid < 1 || vid > 4094)
                return sf_err_set(e, -EINVAL, "segmentation_id", "%u is not a VLAN id (1-4094)", vid);
        return 0;
}

int sf_vlan_bpf_set(sf_vlan_bpf *b, unsigned vid, int port_ifindex, sf_err *e)
{
        uint32_t k = vid, old = 0, ifi = (uint32_t) port_ifindex, v = vid;
        int r = check_vid(vid, e);
        if (r < 0)
                return r;
        if (port_ifindex <= 0)
                return sf_err_set(e, -EINVAL, NULL, "VLAN %u: no device", vid);
        /* The program first, then the maps: a frame never meets a half-made subport. */
        if (b->mode == SF_VLAN_BPF_REDIRECT) {
                r = attach(port_ifindex, b->mux_fd, "the VLAN mux program", e);
                if (r < 0)
                        return r;
        }
        if (bpf_map_lookup_elem(b->vid2if_fd, &k, &old) == 0 && old && old != ifi)
                (void) bpf_map_delete_elem(b->if2vid_fd, &old);
        r = bpf_map_update_elem(b->if2vid_fd, &ifi, &v, BPF_ANY);
        if (r >= 0)
                r = bpf_map_update_elem(b->vid2if_fd, &k, &ifi, BPF_ANY);
        if (r < 0)
                return sf_err_errno(e, r, "map VLAN %u to ifindex %d", vid, port_ifindex);
        return 0;
}

int sf_vlan_bpf_unset(sf_vlan_bpf *b, unsigned vid, sf_err *e)
{
        uint32_t k = vid, old = 0, zero = 0;
        int r = check_vid(vid, e);
        if (r < 0)
                return r;
        if (bpf_map_lookup_elem(b->vid2if_fd, &k, &old) < 0 || !old)
                return 0;
        r = bpf_map_update_elem(b->vid2if_fd, &k, &zero, BPF_ANY);
        if (r < 0)
                return sf_err_errno(e, r, "forget VLAN %u", vid);
        (void) bpf_map_delete_elem(b->if2vid_fd, &old);
        if (b->mode == SF_VLAN_BPF_REDIRECT)
                return sf_vlan_bpf_detach((int) old, false, e);
        return 0;
}

static int cmp_entry(const void *x, const void *y)
{
        const sf_vlan_bpf_entry *a = x, *b = y;
        return (int) a->vid - (int) b->vid;
}

int sf_vlan_bpf_list(sf_vlan_bpf *b, sf_vlan_bpf_entry **ret, size_t *ret_n, sf_err *e)
{
        sf_vlan_bpf_entry *v = NULL;
        size_t n = 0;
        uint32_t key, next, vid;
        const uint32_t *prev = NULL;
        int r;

        /* The hash holds one entry per subport; the array would be 4094 lookups. */
        while ((r = bpf_map_get_next_key(b->if2vid_fd, prev, &next)) == 0) {
                key = next;
                prev = &key;
                if (bpf_map_lookup_elem(b->if2vid_fd, &key, &vid) < 0)
                        continue;
                v = xrealloc(v, sizeof(*v) * (n + 1));
                v[n].vid = vid;
                v[n].ifindex = (int) key;
                n++;
                if (n > 2 * SF_VLAN_VID_SLOTS)
                        break; /* a map changing under us; never loop forever */
        }
        if (r < 0 && r != -ENOENT) {
                free(v);
                return sf_err_errno(e, r, "list the VLAN subports");
        }
        if (n)
                qsort(v, n, sizeof(*v), cmp_entry);
        *ret = v;
        *ret_n = n;
        return 0;
}

int sf_vlan_bpf_get_stats(sf_vlan_bpf *b, sf_vlan_bpf_stats *ret, sf_err *e)
{
        int ncpu = libbpf_num_possible_cpus();
        uint64_t pk[SF_VLAN_CNT_MAX] = { 0 }, by[SF_VLAN_CNT_MAX] = { 0 };
        _cleanup_free_ struct sf_vlan_count *vals = NULL;

        if (ncpu <= 0)
                return sf_err_errno(e, ncpu < 0 ? ncpu : -EIO, "count the possible CPUs");
        vals = new0(struct sf_vlan_count, (size_t) ncpu);
        for (uint32_t k = 0; k < SF_VLAN_CNT_MAX; k++) {
                int r = bpf_map_lookup_elem(b->cnt_fd, &k, vals);
                if (r < 0)
                        return sf_err_errno(e, r, "read the VLAN counters");
                for (int c = 0; c < ncpu; c++) {
                        pk[k] += vals[c].packets;
                        by[k] += vals[c].bytes;
                }
        }
        *ret = (sf_vlan_bpf_stats) {
                .demux_packets = pk[SF_VLAN_CNT_DEMUX],
                .demux_bytes = by[SF_VLAN_CNT_DEMUX],
                .mux_packets = pk[SF_VLAN_CNT_MUX],
                .mux_bytes = by[SF_VLAN_CNT_MUX],
                .drop_unknown_vlan_packets = pk[SF_VLAN_CNT_DROP_UNKNOWN_VLAN],
                .drop_unknown_vlan_bytes = by[SF_VLAN_CNT_DROP_UNKNOWN_VLAN],
                .drop_other_packets = pk[SF_VLAN_CNT_DROP_OTHER],
                .drop_other_bytes = by[SF_VLAN_CNT_DROP_OTHER],
        };
        return 0;
}

static uint32_t prog_id_of(int fd)
{
        struct bpf_prog_info info = { 0 };
        uint32_t len = sizeof(info);
        return fd >= 0 && bpf_obj_get_info_by_fd(fd, &info, &len) == 0 ? info.id : 0;
}

static uint32_t map_id_of(int fd)
{
        struct bpf_map_info info = { 0 };
        uint32_t len = sizeof(info);
        return fd >= 0 && bpf_obj_get_info_by_fd(fd, &info, &len) == 0 ? info.id : 0;
}

void sf_vlan_bpf_get_ids(const sf_vlan_bpf *b, sf_vlan_bpf_ids *ret)
{
        *ret = (sf_vlan_bpf_ids) {
                .demux_prog = prog_id_of(b->demux_fd),
                .mux_prog = prog_id_of(b->mux_fd),
                .cfg_map = map_id_of(b->cfg_fd),
                .vid2if_map = map_id_of(b->vid2if_fd),
                .if2vid_map = map_id_of(b->if2vid_fd),
                .cnt_map = map_id_of(b->cnt_fd),
        };
}

int sf_vlan_bpf_remove(sf_vlan_bpf *b, sf_err *e)
{
        _cleanup_free_ sf_vlan_bpf_entry *v = NULL;
        size_t n = 0;
        int r = 0;

        if (!b)
                return 0;
        if (b->mode == SF_VLAN_BPF_REDIRECT && sf_vlan_bpf_list(b, &v, &n, NULL) >= 0)
                for (size_t i = 0; i < n && r >= 0; i++)
                        r = sf_vlan_bpf_detach(v[i].ifindex, false, e);
        if (r >= 0)
                r = sf_vlan_bpf_detach(b->trunk_ifindex, true, e);
        sf_vlan_bpf_free(b);
        return r;
}
