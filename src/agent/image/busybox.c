/* The "busybox" image, built on the node from the host's static busybox binary, so the product
 * has a test workload image without a registry or a network. */
#include <elf.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "agent/image/image-internal.h"
#include "lib/log.h"

SF_LOG_MODULE("image");

#define DEFAULT_BUSYBOX "/bin/busybox"
#define LIST_MAX (1u << 20)

/* A dynamically linked busybox would not run inside an image without its libraries. */
static int check_static(const char *path, sf_err *e)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        Elf64_Ehdr eh;
        if (fd < 0)
                return sf_err_errno(e, -errno, "open '%s'", path);
        if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t) sizeof(eh) ||
            memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0)
                return sf_err_set(e, -ENOEXEC, NULL, "'%s' is not an ELF executable", path);
        if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr))
                return 0; /* not ours to judge; busybox --list below will tell */
        for (unsigned i = 0; i < eh.e_phnum; i++) {
                Elf64_Phdr ph;
                if (pread(fd, &ph, sizeof(ph), eh.e_phoff + (off_t) i * sizeof(ph)) !=
                    (ssize_t) sizeof(ph))
                        return sf_err_set(e, -ENOEXEC, NULL, "'%s': truncated ELF file", path);
                if (ph.p_type == PT_INTERP)
                        return sf_err_set(e, -ENOEXEC, NULL,
                                          "'%s' is dynamically linked; the image needs a static "
                                          "busybox (Debian: busybox-static)",
                                          path);
        }
        return 0;
}

/* Runs `busybox <arg>` and returns its standard output. */
static int run_list(const char *busybox, const char *arg, char **ret, sf_err *e)
{
        _cleanup_free_ char *out = xmalloc(LIST_MAX + 1);
        char *const argv[] = { (char *) busybox, (char *) arg, NULL };
        char *const envp[] = { NULL };
        posix_spawn_file_actions_t fa;
        int p[2], status, r;
        size_t len = 0;
        pid_t pid;

        if (pipe2(p, O_CLOEXEC) < 0)
                return sf_err_errno(e, -errno, "pipe");
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO);
        posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
        r = posix_spawn(&pid, busybox, &fa, NULL, argv, envp);
        posix_spawn_file_actions_destroy(&fa);
        close(p[1]);
        if (r != 0) {
                close(p[0]);
                return sf_err_errno(e, -r, "run '%s %s'", busybox, arg);
        }
        for (;;) {
                ssize_t n = read(p[0], out + len, LIST_MAX - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0 || (len += n) >= LIST_MAX)
                        break;
        }
        close(p[0]);
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return sf_err_errno(e, -errno, "wait for '%s'", busybox);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return sf_err_set(e, -EIO, NULL, "'%s %s' failed", busybox, arg);
        if (len >= LIST_MAX)
                return sf_err_set(e, -E2BIG, NULL, "'%s %s' printed too much", busybox, arg);
        out[len] = 0;
        *ret = TAKE_PTR(out);
        return 0;
}

static int write_at(int dfd, const char *name, const char *content, mode_t mode, sf_err *e)
{
        _cleanup_close_ int fd = openat(dfd, name,
                                        O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        size_t len = strlen(content);
        if (fd < 0)
                return sf_err_errno(e, -errno, "create '%s'", name);
        if (len > 0 && write(fd, content, len) != (ssize_t) len)
                return sf_err_errno(e, errno ? -errno : -EIO, "write '%s'", name);
        if (fchmod(fd, mode) < 0)
                return sf_err_errno(e, -errno, "chmod '%s'", name);
        return 0;
}

static int copy_binary(const char *src, int dfd, const char *name, sf_err *e)
{
        _cleanup_close_ int s = open(src, O_RDONLY | O_CLOEXEC);
        _cleanup_close_ int d = -EBADF;
        struct stat st;
        int r;
        if (s < 0 || fstat(s, &st) < 0)
                return sf_err_errno(e, -errno, "open '%s'", src);
        d = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0755);
        if (d < 0)
                return sf_err_errno(e, -errno, "create '%s'", name);
        /* the store may be on another filesystem than busybox (a nested guest's tmpfs) */
        r = sf_image_copy_data(s, d, NULL, src, e);
        if (r < 0)
                return r;
        if (fchmod(d, 0755) < 0)
                return sf_err_errno(e, -errno, "chmod '%s'", name);
        return 0;
}

/* "usr/bin/wget" -> symlink to "../../bin/busybox". Other directories are ignored. */
static int add_applet(int rootfd, const char *line, bool full, sf_err *e)
{
        static const char *const dirs[] = { "bin/", "sbin/", "usr/bin/", "usr/sbin/" };
        static const char *const up[] = { "", "../bin/", "../../bin/", "../../bin/" };
        _cleanup_free_ char *target = NULL, *path = NULL;
        const char *base = line;
        size_t i = 0;

        if (full) {
                for (i = 0; i < ELEMENTSOF(dirs); i++)
                        if (strncmp(line, dirs[i], strlen(dirs[i])) == 0)
                                break;
                if (i == ELEMENTSOF(dirs))
                        return 0;
                base = line + strlen(dirs[i]);
        }
        if (!*base || strchr(base, '/') || base[0] == '.' || STREQ(base, "busybox"))
                return 0;
        for (const char *p = base; *p; p++)
                if (*p <= ' ' || *p >= 127)
                        return 0;
        target = xasprintf("%sbusybox", up[i]);
        path = xasprintf("%s%s", full ? dirs[i] : "bin/", base);
        if (symlinkat(target, rootfd, path) < 0 && errno != EEXIST)
                return sf_err_errno(e, -errno, "symlink '%s'", path);
        return 0;
}

static const char passwd[] = "root:x:0:0:root:/root:/bin/sh\n"
                             "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
                             "www-data:x:33:33:www-data:/var/www:/bin/false\n"
                             "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
static const char group[] = "root:x:0:\ndaemon:x:1:\nwww-data:x:33:\nnogroup:x:65534:\n";
static const char hosts[] = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
static const char index_html[] =
        "<!DOCTYPE html>\n<html><head><title>superfluid</title></head>\n"
        "<body><h1>It works</h1><p>busybox httpd in a Superfluid container.</p></body></html>\n";

static int populate(int rootfd, const char *busybox, const char *list, bool full, sf_err *e)
{
        static const struct {
                const char *path;
                mode_t mode;
        } dirs[] = {
                { "bin", 0755 },     { "sbin", 0755 },    { "usr", 0755 },     { "usr/bin", 0755 },
                { "usr/sbin", 0755 }, { "etc", 0755 },    { "dev", 0755 },     { "proc", 0555 },
                { "sys", 0555 },     { "tmp", 01777 },    { "root", 0700 },    { "run", 0755 },
                { "home", 0755 },    { "mnt", 0755 },     { "var", 0755 },     { "var/www", 0755 },
                { "var/tmp", 01777 }, { "var/log", 0755 },
        };
        static const struct {
                const char *path;
                const char *content;
                mode_t mode;
        } files[] = {
                { "etc/passwd", passwd, 0644 },   { "etc/group", group, 0644 },
                { "etc/hosts", hosts, 0644 },     { "etc/hostname", "localhost\n", 0644 },
                { "etc/resolv.conf", "", 0644 },  { "var/www/index.html", index_html, 0644 },
        };
        _cleanup_free_ char *copy = xstrdup(list);
        char *save = NULL;
        int r;

        for (size_t i = 0; i < ELEMENTSOF(dirs); i++)
                if (mkdirat(rootfd, dirs[i].path, 0700) < 0 ||
                    fchmodat(rootfd, dirs[i].path, dirs[i].mode, 0) < 0)
                        return sf_err_errno(e, -errno, "mkdir '%s'", dirs[i].path);
        r = copy_binary(busybox, rootfd, "bin/busybox", e);
        if (r < 0)
                return r;
        for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                r = add_applet(rootfd, l, full, e);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                r = write_at(rootfd, files[i].path, files[i].content, files[i].mode, e);
                if (r < 0)
                        return r;
        }
        return 0;
}

int sf_image_create_busybox_from(sf_image_store *s, const char *name, const char *busybox,
                                 sf_err *e)
{
        _cleanup_(sf_image_staging_end) sf_image_staging st = { 0 };
        _cleanup_json_ json_t *meta = json_object();
        _cleanup_free_ char *list = NULL;
        _cleanup_close_ int rootfd = -EBADF;
        char *const cmd[] = { (char *) "sh", NULL };
        uint8_t digest[SF_SHA256_SIZE];
        char id[SF_DIGEST_STRLEN];
        bool full = true;
        uint64_t size;
        int r;

        r = check_static(busybox, e);
        if (r < 0)
                return r;
        r = run_list(busybox, "--list-full", &list, NULL);
        if (r < 0) {
                full = false; /* built without the installer feature: everything in /bin */
                r = run_list(busybox, "--list", &list, e);
                if (r < 0)
                        return r;
        }
        r = sf_image_staging_begin(s, name, &st, e);
        if (r < 0)
                return r;
        rootfd = open(st.rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0)
                return sf_err_errno(e, -errno, "open '%s'", st.rootfs);
        r = populate(rootfd, busybox, list, full, e);
        if (r >= 0)
                r = sf_tree_measure(rootfd, &size, digest, e);
        if (r < 0)
                return sf_err_prefix(e, "create busybox image '%s'", st.canonical);
        sf_sha256_fmt(digest, id);
        json_object_set_new(meta, "id", json_string(id));
        json_object_set_new(meta, "source", json_string("busybox"));
        json_object_set_new(meta, "layers", json_array());
        json_object_set_new(meta, "config", sf_image_default_config(cmd));
        log_debug("busybox image '%s': %s", st.canonical, id);
        return sf_image_staging_commit(&st, meta, size, e);
}

int sf_image_create_busybox(sf_image_store *s, const char *name, sf_err *e)
{
        return sf_image_create_busybox_from(s, name, DEFAULT_BUSYBOX, e);
}
