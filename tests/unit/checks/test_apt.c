/* SPDX-License-Identifier: Apache-2.0 */
/*
 * posture_apt_compute on small hand-written roots: a dpkg status file, Packages lists (plain
 * and compressed with the real lz4, gzip and xz tools) and Release/InRelease files.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "posture/cleanup.h"
#include "posture/fileio.h"
#include "posture/spawn.h"
#include "posture/strbuf.h"
#include "posture/time_util.h"

#include "os_patch_level/apt.h"
#include "testlib.h"

#define LISTS "var/lib/apt/lists/"
#define DEB   "deb.debian.org_debian_dists_"
#define SEC   "deb.debian.org_debian-security_dists_bookworm-security_"

/* ---- Builders ---- */

static void status_add(struct posture_strbuf *sb,
                       const char *name,
                       const char *status,
                       const char *arch,
                       const char *version)
{
    assert_int_equal(posture_strbuf_printf(sb,
                                           "Package: %s\n"
                                           "Status: %s\n"
                                           "Priority: optional\n"
                                           "Section: misc\n"
                                           "Installed-Size: 100\n"
                                           "Maintainer: Someone <someone@example.org>\n"
                                           "Architecture: %s\n"
                                           "Version: %s\n"
                                           "Conffiles:\n"
                                           " /etc/%s.conf 0123456789abcdef0123456789abcdef\n"
                                           "Description: the %s package\n"
                                           " A longer description.\n"
                                           " .\n"
                                           " With paragraphs.\n"
                                           "\n",
                                           name, status, arch, version, name, name),
                     0);
}

static void
pkg_add(struct posture_strbuf *sb, const char *name, const char *arch, const char *version)
{
    assert_int_equal(posture_strbuf_printf(sb,
                                           "Package: %s\n"
                                           "Source: %s-src\n"
                                           "Version: %s\n"
                                           "Installed-Size: 100\n"
                                           "Maintainer: Someone <someone@example.org>\n"
                                           "Architecture: %s\n"
                                           "Depends: libc6 (>= 2.36), zlib1g (>= 1:1.1.4)\n"
                                           "Description: the %s package\n"
                                           "Multi-Arch: same\n"
                                           "Homepage: https://example.org/\n"
                                           "Description-md5: 0123456789abcdef0123456789abcdef\n"
                                           "Section: misc\n"
                                           "Priority: optional\n"
                                           "Filename: pool/main/%c/%s/%s_%s_%s.deb\n"
                                           "Size: 12345\n"
                                           "MD5sum: 0123456789abcdef0123456789abcdef\n"
                                           "SHA256: "
                                           "0123456789abcdef0123456789abcdef0123456789abcdef012345"
                                           "6789abcdef\n"
                                           "\n",
                                           name, name, version, arch, name, name[0], name, name,
                                           version, arch),
                     0);
}

static char *release_text(const char *origin,
                          const char *label,
                          const char *suite,
                          const char *codename,
                          const char *extra)
{
    char *s = NULL;
    assert_true(asprintf(&s,
                         "Origin: %s\n"
                         "Label: %s\n"
                         "Suite: %s\n"
                         "Version: 12.8\n"
                         "Codename: %s\n"
                         "Date: Sat, 09 Nov 2024 10:00:00 UTC\n"
                         "%s"
                         "Architectures: all amd64 arm64 i386\n"
                         "Components: main contrib\n"
                         "Description: Debian 12.8\n"
                         "MD5Sum:\n"
                         " 0ed6d4c8891eb86358b94bb35d9e4da4  1484322 contrib/Contents-all\n"
                         " d0a0325a97c42fd5f66a8c3e29bcea64    98581 contrib/Contents-all.gz\n"
                         "SHA256:\n"
                         " e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855        "
                         "0 contrib/Contents-amd64\n",
                         origin, label, suite, codename, extra ? extra : "") > 0);
    return s;
}

/* Wrap a Release text into an InRelease file the way apt stores it (clearsigned). The Suite
 * line is dash-escaped ("- " in front), which signers may do to any line. */
static char *inrelease_text(const char *release)
{
    struct posture_strbuf sb = { 0 };
    assert_int_equal(posture_strbuf_puts(&sb, "-----BEGIN PGP SIGNED MESSAGE-----\n"
                                              "Hash: SHA256\n"
                                              "\n"),
                     0);
    for (const char *p = release; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t) (nl - p) + 1 : strlen(p);
        if (strncmp(p, "Suite:", 6) == 0)
            assert_int_equal(posture_strbuf_puts(&sb, "- "), 0);
        assert_int_equal(posture_strbuf_append(&sb, p, len), 0);
        p += len;
    }
    assert_int_equal(posture_strbuf_puts(
                         &sb, "-----BEGIN PGP SIGNATURE-----\n"
                              "\n"
                              "iQIzBAEBCAAdFiEEpyNohvPMyq0Uiif4DphATThvodkFAmcvNVEACgkQDphATThv\n"
                              "=4Zxu\n"
                              "-----END PGP SIGNATURE-----\n"),
                     0);
    return posture_strbuf_steal(&sb);
}

static void write_file(const char *root, const char *rel, const char *content)
{
    int r = posture_test_write_file(root, rel, content);
    if (r < 0)
        fail_msg("writing %s/%s: %s", root, rel, strerror(-r));
}

static void write_sb(const char *root, const char *rel, struct posture_strbuf *sb)
{
    write_file(root, rel, sb->buf ? sb->buf : "");
    posture_strbuf_done(sb);
}

static void run_tool(const char *const *argv)
{
    struct posture_spawn_opts o = { .argv = argv, .search_path = true };
    struct posture_spawn_result res;
    int r = posture_spawn_run(&o, &res);
    if (r < 0)
        fail_msg("%s: %s (the lz4, gzip and xz tools are needed)", argv[0], strerror(-r));
    if (res.exit_code != 0)
        fail_msg("%s failed: %s", argv[0], res.err);
    posture_spawn_result_done(&res);
}

/* Compress root/rel in place with the real tool: rel becomes rel.<ext>. */
static void compress(const char *root, const char *rel, const char *ext)
{
    posture_autofree char *path = NULL, *out = NULL;
    assert_true(asprintf(&path, "%s/%s", root, rel) > 0);
    assert_true(asprintf(&out, "%s.%s", path, ext) > 0);
    if (strcmp(ext, "lz4") == 0) {
        const char *argv[] = { "lz4", "-q", "-f", "--rm", path, out, NULL };
        run_tool(argv);
    } else if (strcmp(ext, "gz") == 0) {
        const char *argv[] = { "gzip", "-n", "-f", path, NULL };
        run_tool(argv);
    } else {
        const char *argv[] = { "xz", "-f", path, NULL };
        run_tool(argv);
    }
    assert_int_equal(access(out, F_OK), 0);
    assert_int_not_equal(access(path, F_OK), 0);
}

static void set_mtime(const char *root, const char *rel, time_t t)
{
    posture_autofree char *path = NULL;
    assert_true(asprintf(&path, "%s/%s", root, rel) > 0);
    struct timespec ts[2] = { { .tv_sec = t }, { .tv_sec = t } };
    assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

/*
 * The main fixture: a Debian 12 amd64 system with i386 multiarch, bookworm (InRelease),
 * bookworm-updates (Release, .gz), bookworm-security (InRelease, .xz and .lz4),
 * bookworm-backports (NotAutomatic + ButAutomaticUpgrades, .lz4) and experimental
 * (NotAutomatic, plain).
 */
static void make_bookworm(const char *root)
{
    struct posture_strbuf sb = { 0 };

    status_add(&sb, "dpkg", "install ok installed", "amd64", "1.21.22");
    status_add(&sb, "libc6", "install ok installed", "amd64", "2.36-9+deb12u4");
    status_add(&sb, "libc6", "install ok installed", "i386", "2.36-9+deb12u4");
    status_add(&sb, "bash", "install ok installed", "amd64", "5.2.15-2+b8");
    status_add(&sb, "tzdata", "install ok installed", "all", "2024a-0+deb12u1");
    status_add(&sb, "epochpkg", "install ok installed", "amd64", "1:1.0-1");
    status_add(&sb, "tildepkg", "install ok installed", "amd64", "1.0-1");
    status_add(&sb, "rcpkg", "install ok installed", "amd64", "2.0~rc1-1");
    status_add(&sb, "bpokeep", "install ok installed", "amd64", "1.0-1");
    status_add(&sb, "bpoinstalled", "install ok installed", "amd64", "2.0-1~bpo12+1");
    status_add(&sb, "expkeep", "install ok installed", "amd64", "1.0-1");
    status_add(&sb, "held", "hold ok installed", "amd64", "1.0-1");
    status_add(&sb, "downgrade", "install ok installed", "amd64", "2.0-1");
    status_add(&sb, "removed", "deinstall ok config-files", "amd64", "1.0-1");
    status_add(&sb, "localonly", "install ok installed", "amd64", "0.1");
    status_add(&sb, "openssl", "install ok installed", "amd64", "3.0.11-1~deb12u1");
    status_add(&sb, "linux-image-6.1.0-26-amd64", "install ok installed", "amd64", "6.1.112-1");
    status_add(&sb, "linux-image-6.1.0-28-amd64", "install ok installed", "amd64", "6.1.119-1");
    status_add(&sb, "linux-image-amd64", "install ok installed", "amd64", "6.1.119-1");
    write_sb(root, "var/lib/dpkg/status", &sb);

    /* bookworm */
    posture_autofree char *rel = release_text("Debian", "Debian", "stable", "bookworm", NULL);
    posture_autofree char *inrel = inrelease_text(rel);
    write_file(root, LISTS DEB "bookworm_InRelease", inrel);
    pkg_add(&sb, "dpkg", "amd64", "1.21.22");
    pkg_add(&sb, "libc6", "amd64", "2.36-9+deb12u4");
    pkg_add(&sb, "bash", "amd64", "5.2.15-2+b13");
    pkg_add(&sb, "tzdata", "all", "2024a-0+deb12u1");
    pkg_add(&sb, "epochpkg", "amd64", "2.0-1"); /* lower: the installed one has epoch 1 */
    pkg_add(&sb, "tildepkg", "amd64", "1.0-1~bpo1");
    pkg_add(&sb, "tildepkg", "amd64", "1.0-1+b1");
    pkg_add(&sb, "rcpkg", "amd64", "2.0-1");
    pkg_add(&sb, "bpokeep", "amd64", "1.0-1");
    pkg_add(&sb, "bpoinstalled", "amd64", "1.0-1");
    pkg_add(&sb, "held", "amd64", "1.1-1");
    pkg_add(&sb, "downgrade", "amd64", "1.9-1");
    pkg_add(&sb, "removed", "amd64", "2.0-1");
    pkg_add(&sb, "newpkg", "amd64", "1.0-1");
    pkg_add(&sb, "openssl", "amd64", "3.0.11-1~deb12u1");
    pkg_add(&sb, "linux-image-amd64", "amd64", "6.1.123-1");
    write_sb(root, LISTS DEB "bookworm_main_binary-amd64_Packages", &sb);
    pkg_add(&sb, "libc6", "i386", "2.36-9+deb12u4");
    pkg_add(&sb, "bash", "i386", "5.2.15-2+b13"); /* bash:i386 is not installed */
    write_sb(root, LISTS DEB "bookworm_main_binary-i386_Packages", &sb);
    compress(root, LISTS DEB "bookworm_main_binary-i386_Packages", "gz");
    pkg_add(&sb, "bash", "arm64", "9.9-1"); /* no arm64 package is installed: never read */
    write_sb(root, LISTS DEB "bookworm_main_binary-arm64_Packages", &sb);

    /* bookworm-updates: a plain Release file */
    posture_autofree char *urel =
        release_text("Debian", "Debian", "stable-updates", "bookworm-updates", NULL);
    write_file(root, LISTS DEB "bookworm-updates_Release", urel);
    pkg_add(&sb, "libc6", "amd64", "2.36-9+deb12u7");
    pkg_add(&sb, "tzdata", "all", "2025b-0+deb12u1");
    pkg_add(&sb, "openssl", "amd64", "3.0.14-1~deb12u1");
    write_sb(root, LISTS DEB "bookworm-updates_main_binary-amd64_Packages", &sb);
    compress(root, LISTS DEB "bookworm-updates_main_binary-amd64_Packages", "gz");

    /* bookworm-security */
    posture_autofree char *srel =
        release_text("Debian", "Debian-Security", "stable-security", "bookworm-security", NULL);
    posture_autofree char *sinrel = inrelease_text(srel);
    write_file(root, LISTS SEC "InRelease", sinrel);
    pkg_add(&sb, "libc6", "amd64", "2.36-9+deb12u7");
    pkg_add(&sb, "epochpkg", "amd64", "1:1.0-2");
    pkg_add(&sb, "openssl", "amd64", "3.0.13-1~deb12u1"); /* updates has a newer one */
    write_sb(root, LISTS SEC "main_binary-amd64_Packages", &sb);
    compress(root, LISTS SEC "main_binary-amd64_Packages", "xz");
    pkg_add(&sb, "libc6", "i386", "2.36-9+deb12u7");
    write_sb(root, LISTS SEC "main_binary-i386_Packages", &sb);
    compress(root, LISTS SEC "main_binary-i386_Packages", "lz4");

    /* bookworm-backports: NotAutomatic and ButAutomaticUpgrades, like Debian's */
    posture_autofree char *brel =
        release_text("Debian Backports", "Debian Backports", "stable-backports",
                     "bookworm-backports", "NotAutomatic: yes\nButAutomaticUpgrades: yes\n");
    posture_autofree char *binrel = inrelease_text(brel);
    write_file(root, LISTS DEB "bookworm-backports_InRelease", binrel);
    pkg_add(&sb, "bpokeep", "amd64", "2.0-1~bpo12+1");
    pkg_add(&sb, "bpoinstalled", "amd64", "2.1-1~bpo12+1");
    pkg_add(&sb, "bpoonly", "amd64", "1.0-1~bpo12+1");
    write_sb(root, LISTS DEB "bookworm-backports_main_binary-amd64_Packages", &sb);
    compress(root, LISTS DEB "bookworm-backports_main_binary-amd64_Packages", "lz4");

    /* experimental: NotAutomatic only */
    posture_autofree char *erel =
        release_text("Debian", "Debian", "experimental", "rc-buggy", "NotAutomatic: yes\n");
    write_file(root, LISTS DEB "experimental_Release", erel);
    pkg_add(&sb, "expkeep", "amd64", "3.0-1");
    pkg_add(&sb, "bash", "amd64", "6.0-1");
    write_sb(root, LISTS DEB "experimental_main_binary-amd64_Packages", &sb);

    /* Files apt keeps next to the lists that are not lists. */
    write_file(root, LISTS DEB "bookworm_main_i18n_Translation-en", "Package: x\n");
    write_file(root, LISTS DEB "bookworm_main_binary-amd64_Packages.diff_Index", "garbage\n");
    write_file(root, LISTS "partial/" DEB "bookworm_main_binary-amd64_Packages", "garbage\n");
    write_file(root, LISTS "lock", "");
}

struct fixture {
    char *root;
    int root_fd;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->root = posture_test_mkdtemp();
    f->root_fd = -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    (void) posture_close_safe(f->root_fd);
    assert_int_equal(posture_test_rmdir_r(f->root), 0);
    free(f->root);
    free(f);
    return 0;
}

static int compute(struct fixture *f,
                   const struct posture_apt_opts *opts,
                   struct posture_apt_result *ret,
                   char **ret_where)
{
    if (f->root_fd < 0)
        assert_int_equal(posture_root_open(f->root, &f->root_fd), 0);
    return posture_apt_compute(f->root_fd, opts, ret, ret_where);
}

static const struct posture_apt_update *find_update(const struct posture_apt_result *r,
                                                    const char *name)
{
    for (size_t i = 0; i < r->n_updates; i++)
        if (strcmp(r->updates[i].name, name) == 0)
            return &r->updates[i];
    return NULL;
}

static void expect_update(const struct posture_apt_result *r,
                          const char *name,
                          const char *installed,
                          const char *candidate,
                          bool security)
{
    const struct posture_apt_update *u = find_update(r, name);
    if (!u) {
        fail_msg("%s should be pending", name);
        return; /* fail_msg() does not return, but gcc cannot know */
    }
    assert_string_equal(u->installed_version, installed);
    assert_string_equal(u->candidate_version, candidate);
    if (u->security != security)
        fail_msg("%s: security %d, expected %d", name, u->security, security);
}

static void expect_not_pending(const struct posture_apt_result *r, const char *name)
{
    if (find_update(r, name))
        fail_msg("%s should not be pending (candidate %s)", name,
                 find_update(r, name)->candidate_version);
}

/* ---- Tests ---- */

static void test_bookworm(void **state)
{
    struct fixture *f = *state;
    make_bookworm(f->root);

    struct posture_apt_result r;
    char *where = (char *) "untouched";
    assert_int_equal(compute(f, NULL, &r, &where), 0);
    assert_null(where);

    assert_int_equal(r.installed, 18);
    assert_int_equal(r.lists, 7); /* the arm64 list is not read */

    /* Same version in security and updates: security. Foreign architecture: name:arch. */
    expect_update(&r, "libc6", "2.36-9+deb12u4", "2.36-9+deb12u7", true);
    expect_update(&r, "libc6:i386", "2.36-9+deb12u4", "2.36-9+deb12u7", true);
    expect_update(&r, "bash", "5.2.15-2+b8", "5.2.15-2+b13", false);
    /* Architecture all installed, all in the list. */
    expect_update(&r, "tzdata", "2024a-0+deb12u1", "2025b-0+deb12u1", false);
    /* Epochs: 2.0-1 < 1:1.0-1 < 1:1.0-2. */
    expect_update(&r, "epochpkg", "1:1.0-1", "1:1.0-2", true);
    /* Tildes: 1.0-1~bpo1 < 1.0-1 < 1.0-1+b1, 2.0~rc1-1 < 2.0-1. */
    expect_update(&r, "tildepkg", "1.0-1", "1.0-1+b1", false);
    expect_update(&r, "rcpkg", "2.0~rc1-1", "2.0-1", false);
    /* Installed from backports (ButAutomaticUpgrades): follows backports. */
    expect_update(&r, "bpoinstalled", "2.0-1~bpo12+1", "2.1-1~bpo12+1", false);
    /* Held packages are pending all the same. */
    expect_update(&r, "held", "1.0-1", "1.1-1", false);
    /* The newest version wins over an older security one: not a security update. */
    expect_update(&r, "openssl", "3.0.11-1~deb12u1", "3.0.14-1~deb12u1", false);
    expect_update(&r, "linux-image-amd64", "6.1.119-1", "6.1.123-1", false);

    expect_not_pending(&r, "dpkg");
    expect_not_pending(&r, "bpokeep");   /* backports (100) < the installed one in main (500) */
    expect_not_pending(&r, "expkeep");   /* NotAutomatic (1) */
    expect_not_pending(&r, "downgrade"); /* no downgrades */
    expect_not_pending(&r, "removed");   /* config-files: not installed */
    expect_not_pending(&r, "localonly");
    expect_not_pending(&r, "bpoonly"); /* not installed */
    expect_not_pending(&r, "newpkg");
    expect_not_pending(&r, "bash:i386");

    assert_int_equal(r.pending, 11);
    assert_int_equal(r.n_updates, 11);
    assert_int_equal(r.pending_security, 3);
    for (size_t i = 1; i < r.n_updates; i++)
        assert_true(strcmp(r.updates[i - 1].name, r.updates[i].name) < 0);

    /* Kernels: linux-image-<digit>... only, newest version first. */
    assert_string_equal(r.newest_kernel, "6.1.119-1");
    assert_string_equal(r.newest_kernel_release, "6.1.0-28-amd64");
    assert_int_equal(r.n_kernels, 2);
    assert_string_equal(r.kernels[0].release, "6.1.0-28-amd64");
    assert_string_equal(r.kernels[1].release, "6.1.0-26-amd64");
    assert_string_equal(r.kernels[1].version, "6.1.112-1");
    assert_non_null(r.kernel_packages);
    assert_string_equal(r.kernel_packages[0], "linux-image-6.1.0-28-amd64");
    assert_string_equal(r.kernel_packages[1], "linux-image-6.1.0-26-amd64");
    assert_null(r.kernel_packages[2]);
    assert_true(r.lists_updated_at > 0);

    posture_apt_result_done(&r);
    assert_null(r.updates);
    posture_apt_result_done(&r); /* twice is fine */
    posture_apt_result_done(NULL);
}

static void test_lists_updated_at(void **state)
{
    struct fixture *f = *state;
    make_bookworm(f->root);
    const char *names[] = { DEB "bookworm_InRelease",
                            DEB "bookworm_main_binary-amd64_Packages",
                            DEB "bookworm_main_binary-i386_Packages.gz",
                            DEB "bookworm_main_binary-arm64_Packages",
                            DEB "bookworm-updates_Release",
                            DEB "bookworm-updates_main_binary-amd64_Packages.gz",
                            SEC "InRelease",
                            SEC "main_binary-amd64_Packages.xz",
                            SEC "main_binary-i386_Packages.lz4",
                            DEB "bookworm-backports_InRelease",
                            DEB "bookworm-backports_main_binary-amd64_Packages.lz4",
                            DEB "experimental_Release",
                            DEB "experimental_main_binary-amd64_Packages" };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        posture_autofree char *rel = NULL;
        assert_true(asprintf(&rel, LISTS "%s", names[i]) > 0);
        set_mtime(f->root, rel, 1700000000 + (time_t) i);
    }
    /* Files that are not lists do not count. */
    set_mtime(f->root, LISTS DEB "bookworm_main_i18n_Translation-en", 1800000000);

    struct posture_apt_result r;
    assert_int_equal(compute(f, NULL, &r, NULL), 0);
    assert_int_equal(r.lists_updated_at, 1700000012);
    posture_apt_result_done(&r);

    /* apt's update stamp when it is newer. */
    write_file(f->root, "var/lib/apt/periodic/update-success-stamp", "");
    set_mtime(f->root, "var/lib/apt/periodic/update-success-stamp", 1700000500);
    assert_int_equal(compute(f, NULL, &r, NULL), 0);
    assert_int_equal(r.lists_updated_at, 1700000500);
    posture_apt_result_done(&r);
    write_file(f->root, "var/lib/apt/periodic/update-stamp", "");
    set_mtime(f->root, "var/lib/apt/periodic/update-stamp", 1700000900);
    assert_int_equal(compute(f, NULL, &r, NULL), 0);
    assert_int_equal(r.lists_updated_at, 1700000900);
    posture_apt_result_done(&r);
}

/* One Release file, one list offering "pkg" 2.0 over an installed 1.0: is it security? */
static bool security_of(struct fixture *f,
                        const char *origin,
                        const char *label,
                        const char *suite,
                        const char *codename)
{
    struct posture_strbuf sb = { 0 };
    status_add(&sb, "pkg", "install ok installed", "amd64", "1.0");
    write_sb(f->root, "var/lib/dpkg/status", &sb);
    posture_autofree char *rel = release_text(origin, label, suite, codename, NULL);
    write_file(f->root, LISTS "mirror.example_x_dists_y_InRelease", rel); /* not armored */
    pkg_add(&sb, "pkg", "amd64", "2.0");
    write_sb(f->root, LISTS "mirror.example_x_dists_y_main_binary-amd64_Packages", &sb);

    struct posture_apt_opts o = { .native_arch = "amd64" };
    struct posture_apt_result r;
    assert_int_equal(compute(f, &o, &r, NULL), 0);
    assert_int_equal(r.pending, 1);
    bool sec = r.updates[0].security;
    assert_int_equal(r.pending_security, sec ? 1 : 0);
    posture_apt_result_done(&r);
    return sec;
}

static void test_security_suites(void **state)
{
    struct fixture *f = *state;
    /* What Debian, Ubuntu, their derivatives and mirrors publish. */
    assert_true(
        security_of(f, "Debian", "Debian-Security", "stable-security", "bookworm-security"));
    assert_true(security_of(f, "Debian", "Debian-Security", "oldstable", "buster")); /* <= 10 */
    assert_true(security_of(f, "Ubuntu", "Ubuntu", "jammy-security", "jammy"));
    assert_true(security_of(f, "UbuntuESM", "Ubuntu ESM", "jammy-infra-security", "jammy"));
    assert_true(security_of(f, "Devuan", "Devuan", "daedalus-security", "daedalus-security"));
    assert_true(security_of(f, "Mirror", "Mirror", "stable", "bookworm-Security"));
    assert_false(security_of(f, "Debian", "Debian", "stable", "bookworm"));
    assert_false(security_of(f, "Debian", "Debian", "stable-updates", "bookworm-updates"));
    assert_false(security_of(f, "Ubuntu", "Ubuntu", "jammy-updates", "jammy"));
    assert_false(security_of(f, "Debian Backports", "Debian Backports", "stable-backports",
                             "bookworm-backports"));
    assert_false(security_of(f, "security-tools", "tools", "stable", "securityx"));
}

/* Each compression, also for lists with no Release file at all (priority 500). */
static void test_compressions(void **state)
{
    struct fixture *f = *state;
    const char *exts[] = { NULL, "lz4", "gz", "xz" };
    struct posture_strbuf sb = { 0 };

    status_add(&sb, "a", "install ok installed", "amd64", "1.0");
    status_add(&sb, "b", "install ok installed", "amd64", "1.0");
    status_add(&sb, "c", "install ok installed", "amd64", "1.0");
    status_add(&sb, "d", "install ok installed", "amd64", "1.0");
    write_sb(f->root, "var/lib/dpkg/status", &sb);
    for (size_t i = 0; i < 4; i++) {
        char name[128], pkg[2] = { (char) ('a' + i), '\0' };
        (void) snprintf(name, sizeof(name), LISTS "repo%zu_dists_x_main_binary-amd64_Packages", i);
        for (int k = 0; k < 500; k++) { /* big enough for several decompression rounds */
            char filler[32];
            (void) snprintf(filler, sizeof(filler), "filler%zu-%d", i, k);
            pkg_add(&sb, filler, "amd64", "1.0");
        }
        pkg_add(&sb, pkg, "amd64", "1.1");
        write_sb(f->root, name, &sb);
        if (exts[i])
            compress(f->root, name, exts[i]);
    }
    struct posture_apt_opts o = { .native_arch = "amd64" };
    struct posture_apt_result r;
    assert_int_equal(compute(f, &o, &r, NULL), 0);
    assert_int_equal(r.lists, 4);
    assert_int_equal(r.pending, 4);
    assert_int_equal(r.pending_security, 0);
    expect_update(&r, "a", "1.0", "1.1", false);
    expect_update(&r, "b", "1.0", "1.1", false);
    expect_update(&r, "c", "1.0", "1.1", false);
    expect_update(&r, "d", "1.0", "1.1", false);
    posture_apt_result_done(&r);
}

static void test_corrupt_xz(void **state)
{
    struct fixture *f = *state;
    make_bookworm(f->root);

    /* Flip bytes in the middle of the xz list. */
    posture_autofree char *path = NULL;
    assert_true(asprintf(&path, "%s/" LISTS SEC "main_binary-amd64_Packages.xz", f->root) > 0);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    char junk[16];
    memset(junk, 0x5a, sizeof(junk));
    assert_int_equal(pwrite(fd, junk, sizeof(junk), st.st_size / 2), sizeof(junk));
    (void) close(fd);

    struct posture_apt_result r = { .installed = 4242 };
    char *where = NULL;
    assert_int_equal(compute(f, NULL, &r, &where), -EBADMSG);
    assert_non_null(where);
    assert_string_equal(where, LISTS SEC "main_binary-amd64_Packages.xz");
    assert_int_equal(r.installed, 4242); /* untouched */
    free(where);
}

static void truncate_file(const char *root, const char *rel, off_t keep)
{
    posture_autofree char *path = NULL;
    assert_true(asprintf(&path, "%s/%s", root, rel) > 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(truncate(path, keep >= 0 ? keep : st.st_size + keep), 0);
}

static void expect_bad(struct fixture *f, int expected, const char *expected_where)
{
    struct posture_apt_result r;
    char *where = NULL;
    int e = compute(f, NULL, &r, &where);
    if (e != expected)
        fail_msg("expected %d, got %d (%s)", expected, e, where ? where : "-");
    if (expected_where) {
        assert_non_null(where);
        assert_string_equal(where, expected_where);
    } else
        assert_null(where);
    free(where);
}

static void test_truncated(void **state)
{
    struct fixture *f = *state;
    make_bookworm(f->root);

    truncate_file(f->root, LISTS SEC "main_binary-i386_Packages.lz4", -6);
    expect_bad(f, -EBADMSG, LISTS SEC "main_binary-i386_Packages.lz4");
    make_bookworm(f->root);
    truncate_file(f->root, LISTS DEB "bookworm-updates_main_binary-amd64_Packages.gz", -9);
    expect_bad(f, -EBADMSG, LISTS DEB "bookworm-updates_main_binary-amd64_Packages.gz");
    make_bookworm(f->root);
    truncate_file(f->root, LISTS SEC "main_binary-amd64_Packages.xz", -4);
    expect_bad(f, -EBADMSG, LISTS SEC "main_binary-amd64_Packages.xz");
    /* An InRelease file cut before its signature. */
    make_bookworm(f->root);
    write_file(f->root, LISTS SEC "InRelease",
               "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nOrigin: Debian\n");
    expect_bad(f, -EBADMSG, LISTS SEC "InRelease");
}

static void test_malformed(void **state)
{
    struct fixture *f = *state;

    make_bookworm(f->root);
    write_file(f->root, "var/lib/dpkg/status",
               "Package: a\nStatus: install ok installed\nVersion: 1\nthis line has no colon\n");
    expect_bad(f, -EBADMSG, "var/lib/dpkg/status");
    /* An installed package without a version. */
    write_file(f->root, "var/lib/dpkg/status",
               "Package: a\nStatus: install ok installed\nArchitecture: amd64\n");
    expect_bad(f, -EBADMSG, "var/lib/dpkg/status");
    /* A list stanza of an installed package without a version. */
    make_bookworm(f->root);
    write_file(f->root, LISTS DEB "experimental_main_binary-amd64_Packages",
               "Package: expkeep\nArchitecture: amd64\n\n");
    expect_bad(f, -EBADMSG, LISTS DEB "experimental_main_binary-amd64_Packages");
    /* A compression we cannot read must not be skipped silently. */
    make_bookworm(f->root);
    write_file(f->root, LISTS DEB "bookworm_contrib_binary-amd64_Packages.zst", "x");
    expect_bad(f, -EOPNOTSUPP, LISTS DEB "bookworm_contrib_binary-amd64_Packages.zst");
}

static void test_missing_status(void **state)
{
    struct fixture *f = *state;
    write_file(f->root, LISTS "x_Packages", "");
    expect_bad(f, -ENOENT, "var/lib/dpkg/status");

    /* A status file elsewhere (opts). */
    struct posture_strbuf sb = { 0 };
    status_add(&sb, "a", "install ok installed", "amd64", "1.0");
    write_sb(f->root, "alt/status", &sb);
    struct posture_apt_opts o = { .dpkg_status = "alt/status", .native_arch = "amd64" };
    struct posture_apt_result r;
    assert_int_equal(compute(f, &o, &r, NULL), 0);
    assert_int_equal(r.installed, 1);
    posture_apt_result_done(&r);
}

static void test_missing_lists(void **state)
{
    struct fixture *f = *state;
    struct posture_strbuf sb = { 0 };
    status_add(&sb, "dpkg", "install ok installed", "amd64", "1.21.22");
    status_add(&sb, "a", "install ok installed", "amd64", "1.0");
    status_add(&sb, "b", "install ok unpacked", "amd64", "1.0");
    status_add(&sb, "c", "deinstall ok installed", "amd64", "1.0");
    status_add(&sb, "d", "install ok not-installed", "amd64", "1.0");
    status_add(&sb, "e", "install ok half-installed", "amd64", "1.0");
    status_add(&sb, "f", "purge ok config-files", "amd64", "1.0");
    write_sb(f->root, "var/lib/dpkg/status", &sb);

    struct posture_apt_result r;
    char *where = NULL;
    assert_int_equal(compute(f, NULL, &r, &where), 0);
    assert_null(where);
    assert_int_equal(r.installed, 4); /* dpkg, a, b (unpacked), c (deinstall: still there) */
    assert_int_equal(r.lists, 0);
    assert_int_equal(r.pending, 0);
    assert_int_equal(r.pending_security, 0);
    assert_int_equal(r.lists_updated_at, 0);
    assert_null(r.newest_kernel);
    assert_int_equal(r.n_kernels, 0);
    assert_non_null(r.kernel_packages);
    assert_null(r.kernel_packages[0]);
    posture_apt_result_done(&r);
}

/* The native architecture comes from the dpkg package when not given. */
static void test_native_from_dpkg(void **state)
{
    struct fixture *f = *state;
    struct posture_strbuf sb = { 0 };
    status_add(&sb, "dpkg", "install ok installed", "arm64", "1.21.22");
    status_add(&sb, "a", "install ok installed", "arm64", "1.0");
    status_add(&sb, "b", "install ok installed", "all", "1.0");
    write_sb(f->root, "var/lib/dpkg/status", &sb);
    pkg_add(&sb, "a", "arm64", "2.0");
    pkg_add(&sb, "b", "all", "2.0");
    write_sb(f->root, LISTS "ports_dists_x_main_binary-arm64_Packages", &sb);
    pkg_add(&sb, "a", "amd64", "3.0");
    write_sb(f->root, LISTS "ports_dists_x_main_binary-amd64_Packages", &sb);

    struct posture_apt_result r;
    assert_int_equal(compute(f, NULL, &r, NULL), 0);
    assert_int_equal(r.lists, 1);
    expect_update(&r, "a", "1.0", "2.0", false); /* not "a:arm64", not 3.0 from amd64 */
    expect_update(&r, "b", "1.0", "2.0", false);
    assert_int_equal(r.pending, 2);
    posture_apt_result_done(&r);

    /* Asked for amd64: the arm64 packages are foreign now. */
    struct posture_apt_opts o = { .native_arch = "amd64" };
    assert_int_equal(compute(f, &o, &r, NULL), 0);
    expect_update(&r, "a:arm64", "1.0", "2.0", false);
    expect_update(&r, "b", "1.0", "2.0", false);
    posture_apt_result_done(&r);
}

/* A list maps to the Release file with the longest name prefix; InRelease over Release. */
static void test_release_mapping(void **state)
{
    struct fixture *f = *state;
    struct posture_strbuf sb = { 0 };
    status_add(&sb, "a", "install ok installed", "amd64", "1.0");
    status_add(&sb, "b", "install ok installed", "amd64", "1.0");
    write_sb(f->root, "var/lib/dpkg/status", &sb);

    posture_autofree char *plain = release_text("X", "X", "stable", "bookworm", NULL);
    posture_autofree char *sec =
        release_text("X", "X", "stable-security", "bookworm-security", NULL);
    posture_autofree char *sec_in = inrelease_text(sec);
    /* bookworm_ must not capture bookworm-security_ lists. */
    write_file(f->root, LISTS "m_dists_bookworm_Release", plain);
    write_file(f->root, LISTS "m_dists_bookworm-security_Release", plain);
    write_file(f->root, LISTS "m_dists_bookworm-security_InRelease", sec_in);
    /* A shorter prefix that matches everything. */
    write_file(f->root, LISTS "m_Release", plain);
    pkg_add(&sb, "a", "amd64", "2.0");
    write_sb(f->root, LISTS "m_dists_bookworm-security_main_binary-amd64_Packages", &sb);
    pkg_add(&sb, "b", "amd64", "2.0");
    write_sb(f->root, LISTS "m_dists_bookworm_main_binary-amd64_Packages", &sb);

    struct posture_apt_opts o = { .native_arch = "amd64" };
    struct posture_apt_result r;
    assert_int_equal(compute(f, &o, &r, NULL), 0);
    expect_update(&r, "a", "1.0", "2.0", true);
    expect_update(&r, "b", "1.0", "2.0", false);
    posture_apt_result_done(&r);
}

/* Repositories like Docker's or VS Code's list every version ever published. */
static void test_many_versions(void **state)
{
    struct fixture *f = *state;
    struct posture_strbuf sb = { 0 };
    status_add(&sb, "code", "install ok installed", "amd64", "1.50.0-1600000000");
    write_sb(f->root, "var/lib/dpkg/status", &sb);
    sb.max_len = 64u * 1024 * 1024;
    for (int i = 0; i < 3000; i++) {
        char v[64];
        (void) snprintf(v, sizeof(v), "1.%d.%d-%d", 40 + i / 100, i % 100, 1600000000 + i);
        pkg_add(&sb, "code", "amd64", v);
        pkg_add(&sb, "code", "arm64", v);
    }
    write_sb(f->root,
             LISTS "packages.microsoft.com_repos_code_dists_stable_main_binary-amd64_Packages",
             &sb);
    struct posture_apt_opts o = { .native_arch = "amd64" };
    struct posture_apt_result r;
    uint64_t t0 = posture_now_usec(CLOCK_MONOTONIC);
    assert_int_equal(compute(f, &o, &r, NULL), 0);
    uint64_t t = posture_now_usec(CLOCK_MONOTONIC) - t0;
    expect_update(&r, "code", "1.50.0-1600000000", "1.69.99-1600002999", false);
    assert_int_equal(r.pending, 1);
    assert_true(t < 5 * POSTURE_USEC_PER_SEC); /* no quadratic work */
    posture_apt_result_done(&r);
}

/* A flat repository ("deb URI ./"): no dists/, no binary-<arch> in the names; stanzas without
 * an Architecture are native; an installed package without one (old dpkg) is native too. */
static void test_flat_repository(void **state)
{
    struct fixture *f = *state;
    struct posture_strbuf sb = { 0 };
    assert_int_equal(posture_strbuf_puts(&sb, "Package: old\nStatus: install ok installed\n"
                                              "Version: 1.0\n\n"),
                     0);
    status_add(&sb, "tool", "install ok installed", "amd64", "1.0");
    write_sb(f->root, "var/lib/dpkg/status", &sb);
    posture_autofree char *rel = release_text("Vendor", "Vendor", "./", "", NULL);
    posture_autofree char *inrel = inrelease_text(rel);
    write_file(f->root, LISTS "vendor.example_repo_._InRelease", inrel);
    write_file(f->root, LISTS "vendor.example_repo_._Packages",
               "Package: old\nVersion: 1.1\n\nPackage: tool\nVersion: 2.0\n"
               "Architecture: amd64\n\nPackage: tool\nVersion: 3.0\nArchitecture: arm64\n");
    struct posture_apt_opts o = { .native_arch = "amd64" };
    struct posture_apt_result r;
    assert_int_equal(compute(f, &o, &r, NULL), 0);
    assert_int_equal(r.lists, 1);
    expect_update(&r, "old", "1.0", "1.1", false);
    expect_update(&r, "tool", "1.0", "2.0", false);
    assert_int_equal(r.pending, 2);
    posture_apt_result_done(&r);

    /* bzip2 and zstd lists are refused, not skipped. */
    write_file(f->root, LISTS "vendor.example_repo_._Packages.bz2", "BZh");
    expect_bad(f, -EOPNOTSUPP, LISTS "vendor.example_repo_._Packages.bz2");
}

static void test_deadline(void **state)
{
    struct fixture *f = *state;
    make_bookworm(f->root);

    struct posture_apt_opts o = { .deadline_usec = 1 }; /* long past */
    struct posture_apt_result r;
    char *where = NULL;
    assert_int_equal(compute(f, &o, &r, &where), -ETIMEDOUT);
    free(where);

    /* A large status file hits the deadline while it is parsed. */
    struct posture_strbuf sb = { .max_len = 64u * 1024 * 1024 };
    for (int i = 0; i < 20000; i++) {
        char name[32];
        (void) snprintf(name, sizeof(name), "pkg%d", i);
        status_add(&sb, name, "install ok installed", "amd64", "1.0");
    }
    write_sb(f->root, "var/lib/dpkg/status", &sb);
    where = NULL;
    assert_int_equal(compute(f, &o, &r, &where), -ETIMEDOUT);
    free(where);
    /* And without a deadline it finishes. */
    o.deadline_usec = posture_now_usec(CLOCK_MONOTONIC) + 60 * POSTURE_USEC_PER_SEC;
    assert_int_equal(compute(f, &o, &r, NULL), 0);
    assert_int_equal(r.installed, 20000);
    posture_apt_result_done(&r);
}

static void test_bad_args(void **state)
{
    (void) state;
    char *where = NULL;
    assert_int_equal(posture_apt_compute(-1, NULL, NULL, &where), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bookworm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lists_updated_at, setup, teardown),
        cmocka_unit_test_setup_teardown(test_security_suites, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compressions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_xz, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_lists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_native_from_dpkg, setup, teardown),
        cmocka_unit_test_setup_teardown(test_release_mapping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flat_repository, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deadline, setup, teardown),
        cmocka_unit_test(test_bad_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
