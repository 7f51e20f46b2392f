/* The node's VM image store: disk images (qcow2 or raw) and direct-kernel-boot images (a kernel,
 * an initrd and optionally a disk), imported by copy into <state-dir>/vm-images and reported to
 * the controller as status.info.vm_images, next to the container image store.
 *
 * Layout:
 *   <root>/images/<key>/image.json   {name, format, disk, disk_format, kernel, initrd, cmdline,
 *                                     size, imported, source}
 *   <root>/images/<key>/disk.qcow2 | disk.raw, vmlinuz, initrd.img
 *   <root>/tmp/                      imports being staged (removed at start when stale)
 * <key> is the canonical image name with '/' as '+' and ':' as '=' (as the container store
 * does): one path component, and no ':' that QEMU or qemu-img could take for a protocol prefix.
 * A VM's overlay refers to <key>/disk.* as its backing file, so an image in use by a VM on this
 * node cannot be removed. Names are unique across both stores of a node. */
#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include "agent/agent-internal.h"
#include "agent/compute/vm-qemu.h"
#include "lib/log.h"
#include "lib/util.h"

SF_LOG_MODULE("vm-image");

#define IMAGE_JSON_MAX (64 * 1024)
#define CMDLINE_MAX 4096

static char *vm_image_key(const char *canonical)
{
        char *k = xstrdup(canonical);
        for (char *p = k; *p; p++) {
                if (*p == '/')
                        *p = '+';
                else if (*p == ':')
                        *p = '=';
        }
        return k;
}

static char *agent_vm_image_root(sf_agent *a)
{
        return xasprintf("%s/vm-images", a->o.state_dir);
}

int agent_vm_image_store_init(sf_agent *a, sf_err *e)
{
        _cleanup_free_ char *root = agent_vm_image_root(a);
        _cleanup_free_ char *images = xasprintf("%s/images", root);
        _cleanup_free_ char *tmp = xasprintf("%s/tmp", root);
        int r = sf_mkdir_p(images, 0700, e);
        if (r >= 0)
                r = sf_rm_rf(tmp, e); /* imports that died half-way */
        if (r >= 0)
                r = sf_mkdir_p(tmp, 0700, e);
        if (r >= 0)
                agent_vm_refresh_images(a);
        return r;
}

/* Copies a regular file, sharing extents where the filesystem can (FICLONE), else with
 * copy_file_range over its data segments only, so that a sparse raw disk stays sparse. */
static int copy_file(const char *src, const char *dst, uint64_t *ret_size, sf_err *e)
{
        _cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        _cleanup_close_ int out = -EBADF;
        struct stat st;
        off_t off = 0;

        if (in < 0)
                return sf_err_errno(e, -errno, "open '%s'", src);
        if (fstat(in, &st) < 0)
                return sf_err_errno(e, -errno, "stat '%s'", src);
        if (!S_ISREG(st.st_mode))
                return sf_err_set(e, -EINVAL, "source", "'%s' is not a regular file", src);
        out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (out < 0)
                return sf_err_errno(e, -errno, "create '%s'", dst);
        if (ret_size)
                *ret_size = (uint64_t) st.st_size;
        if (ioctl(out, FICLONE, in) == 0)
                return 0;
        while (off < st.st_size) {
                off_t data = lseek(in, off, SEEK_DATA), hole;
                if (data < 0) {
                        if (errno == ENXIO)
                                break; /* a hole up to the end */
                        data = off;    /* no SEEK_DATA here: copy everything */
                }
                hole = lseek(in, data, SEEK_HOLE);
                if (hole < 0 || hole <= data)
                        hole = st.st_size;
                for (off_t pos = data; pos < hole;) {
                        loff_t ip = pos, op = pos;
                        ssize_t n = copy_file_range(in, &ip, out, &op, (size_t) (hole - pos), 0);
                        if (n < 0) {
                                if (errno == EINTR)
                                        continue;
                                return sf_err_errno(e, -errno, "copy '%s'", src);
                        }
                        if (n == 0)
                                break;
                        pos += n;
                }
                off = hole;
        }
        if (ftruncate(out, st.st_size) < 0)
                return sf_err_errno(e, -errno, "size '%s'", dst);
        return 0;
}

static json_t *json_string_take(char *s)
{
        json_t *j = json_string(s);
        free(s);
        return j;
}

static bool is_file(const char *p)
{
        struct stat st;
        return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* A disk file: its format must be what was asked ("qcow2", "raw" or NULL for either), and a
 * qcow2 must stand alone (a backing file would point outside the store). */
static int check_disk(const char *path, const char *want, const char **ret_fmt, sf_err *e)
{
        _cleanup_free_ char *backing = NULL;
        const char *fmt;
        int r = sf_vm_image_format(path, &fmt, e);
        if (r < 0)
                return r;
        if (want && STRNEQ(want, fmt))
                return sf_err_set(e, -EINVAL, "format", "'%s' is a %s image, not %s", path, fmt,
                                  want);
        if (STREQ(fmt, "qcow2")) {
                r = sf_qcow2_backing_file(path, &backing, e);
                if (r < 0)
                        return r;
                if (backing)
                        return sf_err_set(e, -EINVAL, "source",
                                          "'%s' has a backing file ('%s'): flatten it first "
                                          "(qemu-img convert -O qcow2)",
                                          path, backing);
        }
        *ret_fmt = fmt;
        return 0;
}

static bool cmdline_valid(const char *s)
{
        if (strlen(s) > CMDLINE_MAX)
                return false;
        for (const char *p = s; *p; p++)
                if ((unsigned char) *p < 0x20)
                        return false;
        return true;
}

/* Fills the staging dir from source; returns the image description (without name). */
static int stage(const char *source, const char *format, const char *cmdline, const char *dir,
                 json_t **ret, sf_err *e)
{
        json_auto_t *img = json_object();
        uint64_t size = 0, n = 0;
        const char *fmt = NULL;
        int r;

        if (STREQ(format, "qcow2") || STREQ(format, "raw")) {
                _cleanup_free_ char *dst = NULL;
                if (cmdline)
                        return sf_err_set(e, -EINVAL, "cmdline",
                                          "only kernel images take a kernel command line");
                r = check_disk(source, format, &fmt, e);
                if (r < 0)
                        return r;
                dst = xasprintf("%s/disk.%s", dir, fmt);
                r = copy_file(source, dst, &size, e);
                if (r < 0)
                        return r;
                json_object_set_new(img, "disk", json_string(strrchr(dst, '/') + 1));
                json_object_set_new(img, "disk_format", json_string(fmt));
                json_object_set_new(img, "kernel", json_null());
                json_object_set_new(img, "initrd", json_null());
                json_object_set_new(img, "cmdline", json_null());
        } else if (STREQ(format, "kernel")) {
                /* A directory: vmlinuz, initrd.img (optional), a disk (optional: disk.qcow2,
                 * disk.raw or disk.img), a "cmdline" file (optional; --cmdline wins). */
                static const char *const disks[] = { "disk.qcow2", "disk.raw", "disk.img", NULL };
                _cleanup_free_ char *kernel = xasprintf("%s/vmlinuz", source);
                _cleanup_free_ char *initrd = xasprintf("%s/initrd.img", source);
                _cleanup_free_ char *cmdfile = xasprintf("%s/cmdline", source);
                _cleanup_free_ char *cmd_from_file = NULL;
                struct stat st;
                if (stat(source, &st) < 0)
                        return sf_err_errno(e, -errno, "source '%s'", source);
                if (!S_ISDIR(st.st_mode))
                        return sf_err_set(e, -EINVAL, "source",
                                          "a kernel image is a directory with vmlinuz and "
                                          "initrd.img ('%s' is not a directory)",
                                          source);
                if (!is_file(kernel))
                        return sf_err_set(e, -EINVAL, "source", "'%s' has no vmlinuz", source);
                {
                        _cleanup_free_ char *dst = xasprintf("%s/vmlinuz", dir);
                        r = copy_file(kernel, dst, &n, e);
                        if (r < 0)
                                return r;
                        size += n;
                }
                json_object_set_new(img, "kernel", json_string("vmlinuz"));
                if (is_file(initrd)) {
                        _cleanup_free_ char *dst = xasprintf("%s/initrd.img", dir);
                        r = copy_file(initrd, dst, &n, e);
                        if (r < 0)
                                return r;
                        size += n;
                        json_object_set_new(img, "initrd", json_string("initrd.img"));
                } else
                        json_object_set_new(img, "initrd", json_null());
                json_object_set_new(img, "disk", json_null());
                json_object_set_new(img, "disk_format", json_null());
                for (const char *const *d = disks; *d; d++) {
                        _cleanup_free_ char *src = xasprintf("%s/%s", source, *d), *dst = NULL;
                        if (!is_file(src))
                                continue;
                        r = check_disk(src, NULL, &fmt, e);
                        if (r < 0)
                                return r;
                        dst = xasprintf("%s/disk.%s", dir, fmt);
                        r = copy_file(src, dst, &n, e);
                        if (r < 0)
                                return r;
                        size += n;
                        json_object_set_new(img, "disk", json_string(strrchr(dst, '/') + 1));
                        json_object_set_new(img, "disk_format", json_string(fmt));
                        break;
                }
                if (!cmdline && is_file(cmdfile)) {
                        size_t len;
                        r = sf_read_file(cmdfile, CMDLINE_MAX, &cmd_from_file, &len, e);
                        if (r < 0)
                                return r;
                        while (len && (cmd_from_file[len - 1] == '\n' || cmd_from_file[len - 1] == ' '))
                                cmd_from_file[--len] = 0;
                        cmdline = cmd_from_file;
                }
                if (cmdline && !cmdline_valid(cmdline))
                        return sf_err_set(e, -EINVAL, "cmdline",
                                          "must be one line of at most %d characters", CMDLINE_MAX);
                json_object_set_new(img, "cmdline", json_string(cmdline ? cmdline : SF_VM_DEFAULT_CMDLINE));
        } else
                return sf_err_set(e, -EINVAL, "format", "'%s' is not a VM image format (qcow2, raw or kernel)",
                                  format);
        json_object_set_new(img, "format", json_string(format));
        json_object_set_new(img, "size", json_integer((json_int_t) size));
        *ret = TAKE_PTR(img);
        return 0;
}

bool agent_vm_image_format(const char *format)
{
        return format && (STREQ(format, "qcow2") || STREQ(format, "raw") || STREQ(format, "kernel"));
}

/* The description with absolute paths, as the API and the workload code use it. */
static json_t *resolved(const char *dir, json_t *img)
{
        json_t *o = json_deep_copy(img);
        for (const char *const *k = (const char *const[]) { "disk", "kernel", "initrd", NULL }; *k; k++) {
                const char *f = json_string_value(json_object_get(img, *k));
                if (f)
                        json_object_set_new(o, *k, json_string_take(xasprintf("%s/%s", dir, f)));
        }
        json_object_set_new(o, "kind", json_string("vm"));
        json_object_set_new(o, "source", json_string_take(xasprintf(
                                                 "vm-%s", json_string_value(json_object_get(img, "format")))));
        json_object_set_new(o, "id", json_null());
        return o;
}

static int read_image(const char *dir, json_t **ret, sf_err *e)
{
        _cleanup_free_ char *path = xasprintf("%s/image.json", dir), *buf = NULL;
        json_auto_t *img = NULL;
        size_t len;
        int r = sf_read_file(path, IMAGE_JSON_MAX, &buf, &len, e);
        if (r < 0)
                return r;
        r = sf_json_parse(buf, len, &img, e);
        if (r < 0)
                return sf_err_prefix(e, "'%s'", path);
        *ret = resolved(dir, img);
        return 0;
}

int agent_vm_image_get(sf_agent *a, const char *name, json_t **ret, sf_err *e)
{
        _cleanup_free_ char *canonical = NULL, *key = NULL, *root = agent_vm_image_root(a);
        _cleanup_free_ char *dir = NULL;
        int r = sf_image_name_normalize(name, &canonical, e);
        if (r < 0)
                return r;
        key = vm_image_key(canonical);
        dir = xasprintf("%s/images/%s", root, key);
        r = read_image(dir, ret, e);
        if (r == -ENOENT) {
                sf_err_clear(e);
                return sf_err_set(e, -ENOENT, "image", "VM image '%s' not found on node '%s'",
                                  canonical, a->node_name);
        }
        return r;
}

int agent_vm_image_import(sf_agent *a, const char *name, const char *source, const char *format,
                          const char *cmdline, json_t **ret, sf_err *e)
{
        _cleanup_free_ char *canonical = NULL, *key = NULL, *root = agent_vm_image_root(a);
        _cleanup_free_ char *dir = NULL, *tmp = NULL, *txt = NULL, *meta = NULL, *ts = NULL;
        _cleanup_image_info_ sf_image_info *other = NULL;
        json_auto_t *img = NULL;
        int r = sf_image_name_normalize(name, &canonical, e);

        if (r < 0) {
                sf_err_field_prefix(e, "name");
                return r;
        }
        if (!source || source[0] != '/')
                return sf_err_set(e, -EINVAL, "source", "must be an absolute path on the node");
        if (sf_image_get(a->images, canonical, &other, NULL) == 0)
                return sf_err_set(e, -EEXIST, "name",
                                  "'%s' is a container image on node '%s'; a VM image needs "
                                  "another name",
                                  canonical, a->node_name);
        key = vm_image_key(canonical);
        dir = xasprintf("%s/images/%s", root, key);
        if (access(dir, F_OK) == 0)
                return sf_err_set(e, -EEXIST, "name", "VM image '%s' exists on node '%s'",
                                  canonical, a->node_name);
        tmp = xasprintf("%s/tmp/%s.XXXXXX", root, key);
        if (!mkdtemp(tmp))
                return sf_err_errno(e, -errno, "create '%s'", tmp);
        r = stage(source, format, cmdline, tmp, &img, e);
        if (r >= 0) {
                ts = sf_timestamp(sf_realtime_usec());
                json_object_set_new(img, "name", json_string(canonical));
                json_object_set_new(img, "imported", json_string(ts));
                json_object_set_new(img, "created", json_string(ts));
                json_object_set_new(img, "path", json_string(source));
                txt = sf_json_dumps(img);
                meta = xasprintf("%s/image.json", tmp);
                r = sf_write_file_atomic(meta, txt, strlen(txt), 0600, e);
        }
        if (r >= 0 && rename(tmp, dir) < 0) {
                r = errno == EEXIST || errno == ENOTEMPTY
                            ? sf_err_set(e, -EEXIST, "name", "VM image '%s' exists on node '%s'",
                                         canonical, a->node_name)
                            : sf_err_errno(e, -errno, "rename '%s'", tmp);
        }
        if (r < 0) {
                sf_rm_rf(tmp, NULL);
                return r;
        }
        log_info("VM image '%s' imported (%s, %" JSON_INTEGER_FORMAT " bytes)", canonical, format,
                 json_integer_value(json_object_get(img, "size")));
        agent_vm_refresh_images(a);
        if (ret)
                *ret = resolved(dir, img);
        return 0;
}

int agent_vm_image_list(sf_agent *a, json_t **ret, sf_err *e)
{
        _cleanup_free_ char *root = agent_vm_image_root(a);
        _cleanup_free_ char *images = xasprintf("%s/images", root);
        json_auto_t *out = json_array();
        struct dirent **ents = NULL;
        int n = scandir(images, &ents, NULL, alphasort);

        if (n < 0)
                return errno == ENOENT ? (*ret = TAKE_PTR(out), 0)
                                       : sf_err_errno(e, -errno, "open '%s'", images);
        for (int i = 0; i < n; i++) {
                if (ents[i]->d_name[0] != '.') {
                        _cleanup_free_ char *dir = xasprintf("%s/%s", images, ents[i]->d_name);
                        json_t *img = NULL;
                        if (read_image(dir, &img, NULL) == 0)
                                json_array_append_new(out, img);
                }
                free(ents[i]);
        }
        free(ents);
        *ret = TAKE_PTR(out);
        return 0;
}

void agent_vm_refresh_images(sf_agent *a)
{
        json_auto_t *list = NULL;
        json_t *names = json_array(), *x;
        size_t i;
        if (agent_vm_image_list(a, &list, NULL) >= 0)
                json_array_foreach(list, i, x)
                        json_array_append(names, json_object_get(x, "name"));
        agent_lock(a);
        if (a->vm_image_names)
                json_decref(a->vm_image_names);
        a->vm_image_names = names;
        agent_unlock(a);
}

/* The VMs on this node whose spec names the image (lock NOT held). */
static char *users_of(sf_agent *a, const char *canonical)
{
        char *users = NULL;
        agent_lock(a);
        for (size_t i = 0; i < a->n_lws; i++) {
                struct lw *w = a->lws[i];
                _cleanup_free_ char *c = NULL;
                const char *img = json_string_value(json_object_get(w->spec, "image"));
                if (w->state == LW_GONE || !agent_spec_is_vm(w->spec) || !img ||
                    sf_image_name_normalize(img, &c, NULL) < 0 || STRNEQ(c, canonical))
                        continue;
                {
                        char *u = xasprintf("%s%s'%s'", users ? users : "", users ? ", " : "",
                                            w->name ? w->name : w->id);
                        free(users);
                        users = u;
                }
        }
        agent_unlock(a);
        return users;
}

/* -ENOENT when there is no such VM image (the caller then tries the container store). */
int agent_vm_image_rm(sf_agent *a, const char *name, sf_err *e)
{
        _cleanup_free_ char *canonical = NULL, *key = NULL, *root = agent_vm_image_root(a);
        _cleanup_free_ char *dir = NULL, *gone = NULL, *users = NULL;
        int r = sf_image_name_normalize(name, &canonical, e);
        if (r < 0)
                return r;
        key = vm_image_key(canonical);
        dir = xasprintf("%s/images/%s", root, key);
        if (access(dir, F_OK) < 0)
                return sf_err_set(e, -ENOENT, "name", "VM image '%s' not found", canonical);
        users = users_of(a, canonical);
        if (users)
                return sf_err_set(e, -EBUSY, "name", "VM image '%s' is used by %s", canonical,
                                  users);
        /* Renamed away first: a concurrent create sees it gone, never half-removed. */
        gone = xasprintf("%s/tmp/%s.rm.XXXXXX", root, key);
        if (!mkdtemp(gone))
                return sf_err_errno(e, -errno, "create '%s'", gone);
        if (rename(dir, gone) < 0) {
                r = -errno;
                rmdir(gone);
                return sf_err_errno(e, r, "remove '%s'", dir);
        }
        r = sf_rm_rf(gone, e);
        agent_vm_refresh_images(a);
        if (r >= 0)
                log_info("VM image '%s' removed", canonical);
        return r;
}
