/* Kernel feature probing: throwaway links, qdiscs and filters in a temporary network
 * namespace, plus device nodes (/dev/net/tun, /dev/kvm). */
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/filter.h>
#include <linux/if_link.h>
#include <linux/kvm.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <net/ethernet.h>
#include <pthread.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

#include "lib/log.h"
#include "net/features.h"
#include "net/internal.h"
#include "net/link.h"
#include "net/nl.h"

SF_LOG_MODULE("features");

static const char *const names[SF_FEAT_COUNT] = {
        "veth",   "bridge", "vxlan",  "macvlan",  "8021q",   "dummy",
        "geneve", "ipvlan", "bridge_vlan_filtering", "clsact", "cls_bpf",
        "bpf_sched_cls", "netem", "tun", "kvm",
};

static unsigned bit_index(uint32_t bit)
{
        return (unsigned) __builtin_ctz(bit);
}

const char *sf_feature_name(uint32_t bit)
{
        if (bit == 0 || (bit & (bit - 1)) || bit_index(bit) >= SF_FEAT_COUNT)
                return NULL;
        return names[bit_index(bit)];
}

char *sf_features_fmt(uint32_t mask)
{
        char *s = xstrdup("");
        for (unsigned i = 0; i < SF_FEAT_COUNT; i++) {
                char *t;
                if (!(mask & (1u << i)))
                        continue;
                t = xasprintf("%s%s%s", s, *s ? " " : "", names[i]);
                free(s);
                s = t;
        }
        return s;
}

void sf_features_done(sf_features *f)
{
        if (!f)
                return;
        for (unsigned i = 0; i < SF_FEAT_COUNT; i++) {
                free(f->why[i]);
                f->why[i] = NULL;
        }
}

struct probe {
        sf_features *f;
        sf_nl *nl;
        int parent; /* ifindex of a veth to hang macvlan/vlan/ipvlan/qdiscs on */
        sf_err err;
        int fatal;
};

static void record(struct probe *p, uint32_t bit, int r, sf_err *e, const char *fallback)
{
        if (r >= 0) {
                p->f->mask |= bit;
                return;
        }
        free(p->f->why[bit_index(bit)]);
        p->f->why[bit_index(bit)] = xstrdup(e && e->code ? sf_err_msg(e) : fallback);
}

/* Creates link name of kind (with data from fill), then deletes it. */
static int try_link(struct probe *p, const char *label, const char *name, const char *kind,
                    int link, void (*fill)(sf_nlreq *r), sf_err *e)
{
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        struct ifinfomsg *ifi;
        struct nlattr *li, *data;
        int rc;

        sf_nlreq_begin(r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, "create %s", label);
        ifi = sf_nlreq_reserve(r, sizeof(*ifi));
        if (ifi)
                ifi->ifi_family = AF_UNSPEC;
        sf_nlreq_put_strz(r, IFLA_IFNAME, name);
        if (link > 0)
                sf_nlreq_put_u32(r, IFLA_LINK, link);
        li = sf_nlreq_nest_start(r, IFLA_LINKINFO);
        sf_nlreq_put_strz(r, IFLA_INFO_KIND, kind);
        if (fill) {
                data = sf_nlreq_nest_start(r, IFLA_INFO_DATA);
                fill(r);
                sf_nlreq_nest_end(r, data);
        }
        sf_nlreq_nest_end(r, li);
        rc = sf_nlreq_end(r, e);
        if (rc >= 0)
                rc = sf_nl_exec(p->nl, r, NULL, NULL, e);
        if (rc >= 0)
                (void) sf_link_del(p->nl, SF_LINK_NAME(name), SF_NL_MISSING_OK, NULL);
        return rc;
}

static void fill_vxlan(sf_nlreq *r)
{
        sf_nlreq_put_u32(r, IFLA_VXLAN_ID, 42);
        sf_nlreq_put_u16(r, IFLA_VXLAN_PORT, htons(4789));
}

static void fill_vlan(sf_nlreq *r)
{
        sf_nlreq_put_u16(r, IFLA_VLAN_ID, 100);
}

static void fill_geneve(sf_nlreq *r)
{
        struct in_addr remote = { htonl(0xc0000201) }; /* 192.0.2.1, documentation range */
        sf_nlreq_put_u32(r, IFLA_GENEVE_ID, 42);
        sf_nlreq_put(r, IFLA_GENEVE_REMOTE, 4, &remote);
}

static void fill_macvlan(sf_nlreq *r)
{
        sf_nlreq_put_u32(r, IFLA_MACVLAN_MODE, MACVLAN_MODE_BRIDGE);
}

static void fill_ipvlan(sf_nlreq *r)
{
        sf_nlreq_put_u16(r, IFLA_IPVLAN_MODE, IPVLAN_MODE_L2);
}

static void fill_bridge_vf(sf_nlreq *r)
{
        sf_nlreq_put_u8(r, IFLA_BR_VLAN_FILTERING, 1);
}

static int try_qdisc(struct probe *p, const char *kind, uint32_t parent, uint32_t handle,
                     const void *opts, size_t opts_len, sf_err *e)
{
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        struct tcmsg *t;
        int rc;

        sf_nlreq_begin(r, RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL, "add qdisc '%s'", kind);
        t = sf_nlreq_reserve(r, sizeof(*t));
        if (t) {
                t->tcm_family = AF_UNSPEC;
                t->tcm_ifindex = p->parent;
                t->tcm_parent = parent;
                t->tcm_handle = handle;
        }
        sf_nlreq_put_strz(r, TCA_KIND, kind);
        if (opts)
                sf_nlreq_put(r, TCA_OPTIONS, opts_len, opts);
        rc = sf_nlreq_end(r, e);
        return rc < 0 ? rc : sf_nl_exec(p->nl, r, NULL, NULL, e);
}

/* A cls_bpf filter on clsact ingress, with classic BPF ops or an eBPF program fd. */
static int try_cls_bpf(struct probe *p, uint16_t prio, int prog_fd, sf_err *e)
{
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        struct sock_filter accept = BPF_STMT(BPF_RET | BPF_K, 0xffffffff);
        struct nlattr *opts;
        struct tcmsg *t;
        int rc;

        sf_nlreq_begin(r, RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_EXCL, "add %s filter 'bpf'",
                       prog_fd >= 0 ? "eBPF" : "classic BPF");
        t = sf_nlreq_reserve(r, sizeof(*t));
        if (t) {
                t->tcm_family = AF_UNSPEC;
                t->tcm_ifindex = p->parent;
                t->tcm_parent = TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS);
                t->tcm_info = TC_H_MAKE((uint32_t) prio << 16, htons(ETH_P_ALL));
        }
        sf_nlreq_put_strz(r, TCA_KIND, "bpf");
        opts = sf_nlreq_nest_start(r, TCA_OPTIONS);
        if (prog_fd >= 0) {
                sf_nlreq_put_u32(r, TCA_BPF_FD, (uint32_t) prog_fd);
                sf_nlreq_put_strz(r, TCA_BPF_NAME, "sf_probe");
                sf_nlreq_put_u32(r, TCA_BPF_FLAGS, TCA_BPF_FLAG_ACT_DIRECT);
        } else {
                sf_nlreq_put_u16(r, TCA_BPF_OPS_LEN, 1);
                sf_nlreq_put(r, TCA_BPF_OPS, sizeof(accept), &accept);
        }
        sf_nlreq_nest_end(r, opts);
        rc = sf_nlreq_end(r, e);
        return rc < 0 ? rc : sf_nl_exec(p->nl, r, NULL, NULL, e);
}

/* Loads "r0 = TC_ACT_OK; exit" as a sched_cls program. */
static int load_bpf_prog(sf_err *e)
{
        struct bpf_insn insns[] = {
                { .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
                { .code = BPF_JMP | BPF_EXIT },
        };
        union bpf_attr attr = {};
        int fd;

        attr.prog_type = BPF_PROG_TYPE_SCHED_CLS;
        attr.insns = (uint64_t) (uintptr_t) insns;
        attr.insn_cnt = ELEMENTSOF(insns);
        attr.license = (uint64_t) (uintptr_t) "GPL";
        fd = (int) syscall(__NR_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
        if (fd < 0)
                return sf_err_errno(e, -errno, "load a sched_cls BPF program");
        /* bpf() fds are close-on-exec by default. */
        return fd;
}

static void probe_links(struct probe *p)
{
        static const struct {
                uint32_t bit;
                const char *label, *kind, *name;
                bool needs_parent;
                void (*fill)(sf_nlreq *r);
        } kinds[] = {
                { SF_FEAT_BRIDGE, "link kind 'bridge'", "bridge", "sfprobe-br", false, NULL },
                { SF_FEAT_BRIDGE_VLAN_FILTERING, "bridge with vlan_filtering", "bridge",
                  "sfprobe-brvf", false, fill_bridge_vf },
                { SF_FEAT_VXLAN, "link kind 'vxlan'", "vxlan", "sfprobe-vx", false, fill_vxlan },
                { SF_FEAT_MACVLAN, "link kind 'macvlan'", "macvlan", "sfprobe-mv", true, fill_macvlan },
                { SF_FEAT_VLAN, "link kind 'vlan' (8021q)", "vlan", "sfprobe-vl", true, fill_vlan },
                { SF_FEAT_DUMMY, "link kind 'dummy'", "dummy", "sfprobe-dm", false, NULL },
                { SF_FEAT_GENEVE, "link kind 'geneve'", "geneve", "sfprobe-gn", false, fill_geneve },
                { SF_FEAT_IPVLAN, "link kind 'ipvlan'", "ipvlan", "sfprobe-iv", true, fill_ipvlan },
        };
        sf_veth_cfg v = { .name = "sfprobe-v0", .peer_name = "sfprobe-v1", .peer_netns_fd = -1 };
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        int r;

        r = sf_link_create_veth(p->nl, &v, &e);
        record(p, SF_FEAT_VETH, r, &e, NULL);
        if (r >= 0) {
                sf_err_clear(&e);
                r = sf_link_ifindex(p->nl, "sfprobe-v0", &e);
                if (r > 0)
                        p->parent = r;
        }
        for (size_t i = 0; i < ELEMENTSOF(kinds); i++) {
                sf_err_clear(&e);
                if (kinds[i].needs_parent && p->parent <= 0) {
                        record(p, kinds[i].bit, -ENODEV, NULL, "not tested: needs veth as a parent");
                        continue;
                }
                r = try_link(p, kinds[i].label, kinds[i].name, kinds[i].kind, kinds[i].needs_parent ? p->parent : 0,
                             kinds[i].fill, &e);
                record(p, kinds[i].bit, r, &e, NULL);
        }
}

static void probe_tc(struct probe *p)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_close_ int prog = -EBADF;
        struct tc_netem_qopt netem = { .limit = 1000 };
        int r;

        if (p->parent <= 0) {
                for (uint32_t b = SF_FEAT_CLSACT; b <= SF_FEAT_NETEM; b <<= 1)
                        record(p, b, -ENODEV, NULL, "not tested: needs a veth");
                return;
        }
        r = try_qdisc(p, "clsact", TC_H_CLSACT, TC_H_MAKE(TC_H_CLSACT, 0), NULL, 0, &e);
        record(p, SF_FEAT_CLSACT, r, &e, NULL);
        if (r >= 0) {
                sf_err_clear(&e);
                r = try_cls_bpf(p, 1, -1, &e);
                record(p, SF_FEAT_CLS_BPF, r, &e, NULL);
                sf_err_clear(&e);
                prog = load_bpf_prog(&e);
                r = prog >= 0 ? try_cls_bpf(p, 2, prog, &e) : prog;
                record(p, SF_FEAT_BPF_SCHED_CLS, r, &e, NULL);
        } else {
                record(p, SF_FEAT_CLS_BPF, -ENOENT, NULL, "not tested: needs clsact");
                record(p, SF_FEAT_BPF_SCHED_CLS, -ENOENT, NULL, "not tested: needs clsact");
        }
        sf_err_clear(&e);
        r = try_qdisc(p, "netem", TC_H_ROOT, 0, &netem, sizeof(netem), &e);
        record(p, SF_FEAT_NETEM, r, &e, NULL);
}

static void *probe_thread(void *userdata)
{
        struct probe *p = userdata;
        _cleanup_nl_ sf_nl *nl = NULL;
        int r;

        if (unshare(CLONE_NEWNET) < 0) {
                p->fatal = sf_err_errno(&p->err, -errno, "unshare a temporary network namespace");
                return NULL;
        }
        r = sf_nl_open(&nl, &p->err);
        if (r < 0) {
                p->fatal = r;
                return NULL;
        }
        p->nl = nl;
        probe_links(p);
        probe_tc(p);
        if (p->parent > 0)
                (void) sf_link_del(nl, SF_LINK_IDX(p->parent), SF_NL_MISSING_OK, NULL);
        p->nl = NULL;
        return NULL;
}

static void probe_devices(sf_features *f)
{
        _cleanup_close_ int tun = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
        _cleanup_close_ int kvm = -EBADF;
        int v;

        if (tun >= 0)
                f->mask |= SF_FEAT_TUN;
        else
                f->why[bit_index(SF_FEAT_TUN)] = xasprintf("open /dev/net/tun: %s", strerror(errno));

        kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
        if (kvm < 0) {
                f->why[bit_index(SF_FEAT_KVM)] = xasprintf("open /dev/kvm: %s", strerror(errno));
                return;
        }
        v = ioctl(kvm, KVM_GET_API_VERSION, 0);
        if (v == KVM_API_VERSION) {
                /* The node exists on hosts without usable virtualisation: make a VM. */
                _cleanup_close_ int vm = ioctl(kvm, KVM_CREATE_VM, 0);
                if (vm >= 0)
                        f->mask |= SF_FEAT_KVM;
                else
                        f->why[bit_index(SF_FEAT_KVM)] = xasprintf("KVM_CREATE_VM: %s", strerror(errno));
        } else if (v < 0)
                f->why[bit_index(SF_FEAT_KVM)] = xasprintf("KVM_GET_API_VERSION: %s", strerror(errno));
        else
                f->why[bit_index(SF_FEAT_KVM)] = xasprintf("KVM API version %d, expected %d", v,
                                                           KVM_API_VERSION);
}

int sf_features_detect(sf_features *ret, sf_err *e)
{
        sf_features f = {};
        struct probe p = { .f = &f, .err = SF_ERR_INIT };
        pthread_t t;
        int r;

        r = pthread_create(&t, NULL, probe_thread, &p);
        if (r != 0)
                return sf_err_errno(e, -r, "detect kernel features: start thread");
        pthread_join(t, NULL);
        if (p.fatal < 0) {
                sf_err_move(e, &p.err);
                sf_features_done(&f);
                return sf_err_wrap(p.fatal, e, "detect kernel features");
        }
        sf_err_clear(&p.err);
        probe_devices(&f);
        *ret = f;
        return 0;
}
