/* libbpf, set up once per process for the BPF code of src/net (vlan-bpf.c, task-iter.c). */
#pragma once

/* Sends libbpf's messages to our log, at debug level. Idempotent, thread-safe. */
void sf_libbpf_setup(void);
