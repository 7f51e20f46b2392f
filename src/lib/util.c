/* Ids, clocks, file helpers, and real-time priority for a critical section. */
#include <dirent.h>
#include <fcntl.h>
#include <ctype.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "lib/util.h"

void sf_uuid(char buf[static SF_UUID_STRLEN])
{
        uint8_t b[16];
        size_t got = 0;
        while (got < sizeof(b)) {
                ssize_t n = getrandom(b + got, sizeof(b) - got, 0);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        abort(); /* the kernel always has getrandom */
                }
                got += n;
        }
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        snprintf(buf, SF_UUID_STRLEN,
                 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
                 b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
                 b[14], b[15]);
}

bool sf_uuid_valid(const char *s)
{
        if (strlen(s) != 36)
                return false;
        for (int i = 0; i < 36; i++) {
                if (i == 8 || i == 13 || i == 18 || i == 23) {
                        if (s[i] != '-')
                                return false;
                } else if (!isxdigit((unsigned char) s[i]))
                        return false;
        }
        return true;
}

static uint64_t clock_usec(clockid_t c)
{
        struct timespec ts;
        clock_gettime(c, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + ts.tv_nsec / 1000;
}

int sf_thread_set_nice(int nice)
{
        return setpriority(PRIO_PROCESS, (id_t) gettid(), nice) < 0 ? -errno : 0;
}

int sf_rt_boost_begin(struct sf_rt_boost *b)
{
        struct sched_param rt = { .sched_priority = 1 };
        int base;
        *b = (struct sf_rt_boost) { 0 };
        b->policy = sched_getscheduler(0);
        if (b->policy < 0)
                return -errno;
        base = b->policy & ~SCHED_RESET_ON_FORK;
        if (base == SCHED_FIFO || base == SCHED_RR)
                return 0;
        if (sched_getparam(0, &b->param) < 0 || sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &rt) < 0)
                return -errno;
        b->on = true;
        return 0;
}

int sf_rt_boost_end(const struct sf_rt_boost *b)
{
        /* Back to its own policy; the nice value, kept by the kernel across the change, too. */
        if (b->on && sched_setscheduler(0, b->policy, &b->param) < 0)
                return -errno;
        return 0;
}

uint64_t sf_now_usec(void) { return clock_usec(CLOCK_MONOTONIC); }
uint64_t sf_realtime_usec(void) { return clock_usec(CLOCK_REALTIME); }

char *sf_timestamp(uint64_t usec)
{
        time_t t = usec / 1000000;
        struct tm tm;
        gmtime_r(&t, &tm);
        return xasprintf("%04d-%02d-%02dT%02d:%02d:%02d.%06uZ", tm.tm_year + 1900, tm.tm_mon + 1,
                         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                         (unsigned) (usec % 1000000));
}

int sf_mkdir_p(const char *path, mode_t mode, sf_err *e)
{
        _cleanup_free_ char *p = xstrdup(path);
        for (char *s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = 0;
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return sf_err_errno(e, -errno, "mkdir '%s'", p);
                *s = '/';
        }
        if (mkdir(p, mode) < 0 && errno != EEXIST)
                return sf_err_errno(e, -errno, "mkdir '%s'", p);
        return 0;
}

static int write_file(const char *path, const void *data, size_t len, mode_t mode, bool sync,
                      sf_err *e);

int sf_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, sf_err *e)
{
        return write_file(path, data, len, mode, true, e);
}

int sf_write_file_volatile(const char *path, const void *data, size_t len, mode_t mode, sf_err *e)
{
        return write_file(path, data, len, mode, false, e);
}

static int write_file(const char *path, const void *data, size_t len, mode_t mode, bool sync,
                      sf_err *e)
{
        _cleanup_free_ char *tmp = xasprintf("%s.tmp.%d", path, (int) gettid());
        _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        const uint8_t *p = data;
        if (fd < 0)
                return sf_err_errno(e, -errno, "create '%s'", tmp);
        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        int r = -errno;
                        unlink(tmp);
                        return sf_err_errno(e, r, "write '%s'", tmp);
                }
                p += n;
                len -= n;
        }
        if ((sync && fsync(fd) < 0) || rename(tmp, path) < 0) {
                int r = -errno;
                unlink(tmp);
                return sf_err_errno(e, r, "write '%s'", path);
        }
        return 0;
}

int sf_fd_move_high(int fd)
{
        int h;
        if (fd < 0)
                return -EBADF;
        if (fd >= FD_SETSIZE)
                return fd;
        h = fcntl(fd, F_DUPFD_CLOEXEC, FD_SETSIZE);
        if (h < 0)
                return errno == EINVAL ? -EMFILE : -errno;
        close(fd);
        return h;
}

int sf_read_file(const char *path, size_t max, char **ret, size_t *ret_len, sf_err *e)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        _cleanup_free_ char *buf = NULL;
        size_t len = 0, cap = 0;
        if (fd < 0)
                return sf_err_errno(e, -errno, "open '%s'", path);
        for (;;) {
                ssize_t n;
                if (cap - len < 4096) {
                        cap = cap ? cap * 2 : 8192;
                        buf = xrealloc(buf, cap + 1);
                }
                n = read(fd, buf + len, cap - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return sf_err_errno(e, -errno, "read '%s'", path);
                }
                if (n == 0)
                        break;
                len += n;
                if (len > max)
                        return sf_err_set(e, -EFBIG, NULL, "'%s' is larger than %zu bytes", path,
                                          max);
        }
        if (!buf)
                buf = xmalloc(1);
        buf[len] = 0;
        *ret = TAKE_PTR(buf);
        if (ret_len)
                *ret_len = len;
        return 0;
}

static int rm_rf_at(int dfd, dev_t dev, sf_err *e)
{
        _cleanup_close_ int fd = dfd;
        DIR *d = fdopendir(fd);
        struct dirent *de;
        int r = 0;
        if (!d)
                return sf_err_errno(e, -errno, "opendir");
        fd = -EBADF; /* owned by d now */
        while ((de = readdir(d))) {
                struct stat st;
                if (STREQ(de->d_name, ".") || STREQ(de->d_name, ".."))
                        continue;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                if (S_ISDIR(st.st_mode)) {
                        int sub;
                        if (st.st_dev != dev) {
                                r = sf_err_set(e, -EBUSY, NULL, "'%s' is a mount point",
                                               de->d_name);
                                continue;
                        }
                        sub = openat(dirfd(d), de->d_name,
                                     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (sub < 0)
                                continue;
                        if (rm_rf_at(sub, dev, e) < 0)
                                r = e ? e->code : -EIO;
                        if (unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) < 0 && r == 0)
                                r = sf_err_errno(e, -errno, "rmdir '%s'", de->d_name);
                } else if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT && r == 0)
                        r = sf_err_errno(e, -errno, "unlink '%s'", de->d_name);
        }
        closedir(d);
        return r;
}

int sf_rm_rf(const char *path, sf_err *e)
{
        struct stat st;
        int fd, r;
        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : sf_err_errno(e, -errno, "stat '%s'", path);
        if (!S_ISDIR(st.st_mode)) {
                if (unlink(path) < 0 && errno != ENOENT)
                        return sf_err_errno(e, -errno, "unlink '%s'", path);
                return 0;
        }
        fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return sf_err_errno(e, -errno, "open '%s'", path);
        r = rm_rf_at(fd, st.st_dev, e);
        if (r < 0)
                return sf_err_prefix(e, "remove '%s'", path);
        if (rmdir(path) < 0 && errno != ENOENT)
                return sf_err_errno(e, -errno, "rmdir '%s'", path);
        return 0;
}

int sf_parse_size(const char *s, uint64_t *ret)
{
        static const struct {
                const char *suffix;
                uint64_t mult;
        } units[] = {
                { "", 1 },           { "K", 1000ULL },    { "M", 1000000ULL },
                { "G", 1000000000ULL }, { "Ki", 1ULL << 10 }, { "Mi", 1ULL << 20 },
                { "Gi", 1ULL << 30 },   { "Ti", 1ULL << 40 }, { "B", 1 },
        };
        char *end;
        unsigned long long v;
        if (!s || !isdigit((unsigned char) *s))
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(units); i++)
                if (STREQ(end, units[i].suffix)) {
                        if (v > UINT64_MAX / units[i].mult)
                                return -ERANGE;
                        *ret = v * units[i].mult;
                        return 0;
                }
        return -EINVAL;
}
