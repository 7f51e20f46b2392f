/* main() for replaying fuzz inputs without libFuzzer: runs LLVMFuzzerTestOneInput once on every
 * file named on the command line, and on every regular file of every directory named there
 * (sorted, not recursive). `meson test --suite fuzz` runs each target over its corpus this way,
 * in the plain and in the ASan/UBSan build. Options starting with '-' (libFuzzer flags) are
 * ignored, so a crash reproducer line can be pasted as is. Fails when no input was found. */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "lib/macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static size_t n_run;

static int run_file(const char *path)
{
        FILE *f = fopen(path, "rbe");
        char *buf = NULL, *exact;
        size_t len = 0, cap = 0, n;

        if (!f) {
                fprintf(stderr, "%s: %s\n", path, strerror(errno));
                return -1;
        }
        do {
                if (cap - len < 4096)
                        buf = xrealloc(buf, cap = cap ? cap * 2 : 65536);
                n = fread(buf + len, 1, cap - len, f);
                len += n;
        } while (n > 0);
        if (ferror(f)) {
                fprintf(stderr, "%s: read error\n", path);
                fclose(f);
                free(buf);
                return -1;
        }
        fclose(f);
        /* An exact-size copy, so that a read past the end is caught by ASan as with libFuzzer. */
        exact = xmalloc(len);
        memcpy(exact, buf, len);
        free(buf);
        if (getenv("SF_FUZZ_REPLAY_VERBOSE"))
                fprintf(stderr, "running %s (%zu bytes)\n", path, len);
        LLVMFuzzerTestOneInput((const uint8_t *) exact, len);
        free(exact);
        n_run++;
        return 0;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static int run_dir(const char *dir)
{
        DIR *d = opendir(dir);
        struct dirent *de;
        char **names = NULL;
        size_t n = 0;
        int r = 0;

        if (!d) {
                fprintf(stderr, "%s: %s\n", dir, strerror(errno));
                return -1;
        }
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                names = xrealloc(names, sizeof(char *) * (n + 1));
                names[n++] = xasprintf("%s/%s", dir, de->d_name);
        }
        closedir(d);
        if (n)
                qsort(names, n, sizeof(char *), cmp_str);
        for (size_t i = 0; i < n; i++) {
                struct stat st;
                if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode) && run_file(names[i]) < 0)
                        r = -1;
                free(names[i]);
        }
        free(names);
        return r;
}

int main(int argc, char **argv)
{
        int r = 0;
        if (LLVMFuzzerInitialize)
                LLVMFuzzerInitialize(&argc, &argv);
        for (int i = 1; i < argc; i++) {
                struct stat st;
                if (argv[i][0] == '-')
                        continue;
                if (stat(argv[i], &st) < 0) {
                        fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
                        r = -1;
                } else if (S_ISDIR(st.st_mode)) {
                        if (run_dir(argv[i]) < 0)
                                r = -1;
                } else if (run_file(argv[i]) < 0)
                        r = -1;
        }
        printf("%s: %zu inputs ran\n", argc > 0 ? argv[0] : "replay", n_run);
        if (n_run == 0) {
                fprintf(stderr, "no inputs: give corpus directories or files\n");
                return 1;
        }
        return r < 0 ? 1 : 0;
}
