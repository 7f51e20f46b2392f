/* The NFVO: the descriptor catalogue (VNFDs and NSDs in ETSI SOL006 YAML, bare or as OSM
 * packages), network-service instances and their lifecycle (instantiate, scale, terminate)
 * as ETSI SOL005 operation occurrences, and the placement of each VNF on a site or node.
 *
 * Dependency rule: nfvo -> vnfm -> vim -> store -> lib. The NFVO turns an NSD into networks
 * (one per virtual link, through the VIM's network and subnet kinds) and VNF instances, which
 * the VNFM turns into VDU instances (containers); the api layer registers the kinds of each
 * layer (sf_vim_kinds, sf_vnfm_kinds, sf_nfvo_kinds) and calls none of them otherwise. The
 * descriptor parser (descriptor.h, library libsf_nfvo_desc) depends on lib only.
 *
 * Kinds served (see README.md for the bodies): vnfd (/v1/vnfds), nsd (/v1/nsds),
 * ns_instance (/v1/ns_instances, actions instantiate, scale, terminate) and ns_lcm_op_occ
 * (/v1/ns_lcm_op_occs, read-only). */
#pragma once

#include "store/kind.h"
#include "vim/vim.h"
#include "vnfm/vnfm.h"

typedef struct sf_nfvo sf_nfvo;

struct sf_nfvo_options {
        /* Where virtual links without a CIDR get one: /cidr_prefix blocks of this pool that
         * overlap no subnet of the deployment. NULL: 10.100.0.0/16; 0: /24. */
        const char *cidr_pool;
        unsigned cidr_prefix;
        /* How long instantiate and scale wait for the VDU instances to run, unless the request
         * says (0: 120 s). */
        unsigned op_timeout_s;
};

/* Validates the options (a bad pool is an error naming --ns-cidr-pool). */
int sf_nfvo_new(sf_store *store, sf_vim *vim, sf_vnfm *vnfm, const struct sf_nfvo_options *opts,
                sf_nfvo **ret, sf_err *e);
/* Resumes the operations a previous run left unfinished: an interrupted instantiation or
 * scale-out is rolled back, an interrupted termination or scale-in completed. */
int sf_nfvo_start(sf_nfvo *n, sf_err *e);
/* Stops running operations at their next step and waits for them; they resume at the next
 * start. Call before the VIM stops. */
void sf_nfvo_stop(sf_nfvo *n);
void sf_nfvo_free(sf_nfvo *n);

/* vnfd, nsd, ns_instance, ns_lcm_op_occ; terminated by NULL. */
struct sf_kind *const *sf_nfvo_kinds(sf_nfvo *n);
