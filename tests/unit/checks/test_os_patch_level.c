/* SPDX-License-Identifier: Apache-2.0 */
/*
 * os.patch_level: the dnf/yum output parsers (on captured outputs), the apt.conf reader, kernel
 * releases, systemd unit state and automatic updates, dnf run through a fake tool, and the
 * check on fixture roots (tests/fixtures/roots/os.patch_level/<scenario>/, copied to a
 * temporary directory so the lists get the age a scenario needs).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "posture/err.h"
#include "posture/fileio.h"
#include "posture/result.h"
#include "posture/runner.h"
#include "posture/strv.h"

#include "checktest.h"
#include "os_patch_level/aptconf.h"
#include "os_patch_level/dnf.h"
#include "os_patch_level/kernel.h"
#include "os_patch_level/patch.h"

/* ---- dnf updateinfo ---- */

static int updateinfo(const char *text, const char *arch, struct posture_dnf_updateinfo *u)
{
    return posture_dnf_parse_updateinfo(text, strlen(text), arch, u);
}

static void expect_names(char **names, const char *const *want, size_t n)
{
    assert_int_equal(posture_strv_length(names), n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(names[i], want[i]);
}

static void test_updateinfo_dnf4_fedora(void **state)
{
    (void) state;
    /* dnf 4.19 on Fedora 40, `dnf -C -q updateinfo list --security`. */
    static const char out[] =
        "FEDORA-2024-1a2b3c4d5e Important/Sec.  kernel-6.8.9-300.fc40.x86_64\n"
        "FEDORA-2024-1a2b3c4d5e Important/Sec.  kernel-core-6.8.9-300.fc40.x86_64\n"
        "FEDORA-2024-1a2b3c4d5e Important/Sec.  kernel-modules-6.8.9-300.fc40.x86_64\n"
        "FEDORA-2024-9f8e7d6c5b Moderate/Sec.   curl-8.6.0-8.fc40.x86_64\n"
        "FEDORA-2024-9f8e7d6c5b Moderate/Sec.   libcurl-8.6.0-8.fc40.x86_64\n"
        "FEDORA-2024-aabbccddee Low/Sec.        glibc-2.39-8.fc40.i686\n"
        "FEDORA-2024-aabbccddee Low/Sec.        glibc-2.39-8.fc40.x86_64\n"
        "FEDORA-2024-0011223344 Moderate/Sec.   python3-urllib3-1.26.18-2.fc40.noarch\n"
        "FEDORA-2024-5566778899 Critical/Sec.   curl-8.6.0-9.fc40.x86_64\n";
    static const char *const want[] = { "curl",    "glibc",          "glibc.i686",
                                        "kernel",  "kernel-core",    "kernel-modules",
                                        "libcurl", "python3-urllib3" };
    struct posture_dnf_updateinfo u;

    assert_int_equal(updateinfo(out, "x86_64", &u), 8);
    expect_names(u.names, want, 8);
    assert_int_equal(u.n_names, 8);
    assert_int_equal(u.advisories, 9);
    assert_int_equal(u.ignored, 0);
    posture_dnf_updateinfo_done(&u);
    assert_null(u.names);
    posture_dnf_updateinfo_done(&u); /* twice is fine */
    posture_dnf_updateinfo_done(NULL);

    /* No native architecture: every architecture counts by name alone. */
    assert_int_equal(updateinfo(out, NULL, &u), 7);
    posture_dnf_updateinfo_done(&u);
}

static void test_updateinfo_rhel_epochs(void **state)
{
    (void) state;
    /* RHEL 9.4, CRLF line ends and a metadata notice dnf prints even with -q. */
    static const char out[] =
        "Last metadata expiration check: 1:02:03 ago on Mon 06 May 2024 10:00:00 AM UTC.\r\n"
        "RHSA-2024:2394 Important/Sec. openssl-libs-1:3.0.7-27.el9.x86_64\r\n"
        "RHSA-2024:2394 Important/Sec. openssl-1:3.0.7-27.el9.x86_64\r\n"
        "RHSA-2024:2512 Moderate/Sec.  openssh-8.7p1-38.el9_4.1.x86_64\r\n"
        "RHSA-2024:2512 Moderate/Sec.  openssh-clients-8.7p1-38.el9_4.1.x86_64\r\n"
        "RHBA-2024:2600 bugfix         tzdata-2024a-2.el9.noarch\r\n"
        "RHEA-2024:2601 enhancement    dnf-4.14.0-9.el9.noarch\r\n";
    static const char *const want[] = { "openssh", "openssh-clients", "openssl", "openssl-libs" };
    struct posture_dnf_updateinfo u;

    assert_int_equal(updateinfo(out, "x86_64", &u), 4);
    expect_names(u.names, want, 4);
    assert_int_equal(u.advisories, 4);
    assert_int_equal(u.ignored, 0); /* bugfix / enhancement rows are known, not security */
    posture_dnf_updateinfo_done(&u);
}

static void test_updateinfo_dnf5_and_yum(void **state)
{
    (void) state;
    /* dnf5 5.2 (Fedora 41): a table with a header and an Issued column. */
    static const char dnf5[] =
        "Name                  Type        Severity                         Package              "
        "Issued\n"
        "FEDORA-2024-abc123    security    Moderate   curl-8.9.1-2.fc41.x86_64   2024-10-01 "
        "01:23:45\n"
        "FEDORA-2024-abc123    security    Moderate   libcurl-8.9.1-2.fc41.x86_64   2024-10-01 "
        "01:23:45\n"
        "FEDORA-2024-def456    security    Important  kernel-core-6.11.3-300.fc41.x86_64 "
        "2024-10-12 02:00:00\n";
    /* yum 3.4 on CentOS 7: `yum -C -q updateinfo list security`. */
    static const char yum[] = "RHSA-2020:5002 Moderate/Sec. curl-7.29.0-59.el7_9.1.x86_64\n"
                              "RHSA-2020:5002 Moderate/Sec. libcurl-7.29.0-59.el7_9.1.x86_64\n"
                              "RHSA-2021:0221 Important/Sec. sudo-1.8.23-10.el7_9.1.x86_64\n"
                              "updateinfo list done\n";
    static const char *const want5[] = { "curl", "kernel-core", "libcurl" };
    static const char *const wanty[] = { "curl", "libcurl", "sudo" };
    struct posture_dnf_updateinfo u;

    assert_int_equal(updateinfo(dnf5, "x86_64", &u), 3);
    expect_names(u.names, want5, 3);
    posture_dnf_updateinfo_done(&u);
    assert_int_equal(updateinfo(yum, "x86_64", &u), 3);
    expect_names(u.names, wanty, 3);
    posture_dnf_updateinfo_done(&u);
}

static void test_updateinfo_bad_input(void **state)
{
    (void) state;
    struct posture_dnf_updateinfo u = { .advisories = 77 };

    /* Nothing pending: an empty output, or only blank lines. */
    assert_int_equal(updateinfo("", "x86_64", &u), 0);
    assert_non_null(u.names);
    assert_null(u.names[0]);
    posture_dnf_updateinfo_done(&u);
    assert_int_equal(updateinfo("\n  \n\r\n", "x86_64", &u), 0);
    posture_dnf_updateinfo_done(&u);
    assert_int_equal(posture_dnf_parse_updateinfo(NULL, 0, NULL, &u), 0);
    posture_dnf_updateinfo_done(&u);

    /* Output we do not understand is an error, never "0 pending". */
    u.advisories = 77;
    assert_int_equal(
        updateinfo("Error: Failed to download metadata for repo 'fedora'\n", "x86_64", &u),
        -EBADMSG);
    assert_int_equal(u.advisories, 77); /* untouched */
    assert_int_equal(updateinfo("FEDORA-1 Important/Sec. not-a-nevra\n", "x86_64", &u), -EBADMSG);
    assert_int_equal(updateinfo("FEDORA-1 Important/Sec. foo-1-2.src\n", "x86_64", &u), -EBADMSG);
    assert_int_equal(updateinfo("one two\n", NULL, &u), -EBADMSG);

    /* Unparseable lines among good ones are counted, not fatal. */
    assert_int_equal(updateinfo("junk\nX-1 Low/Sec. a-1-1.noarch\nmore junk here\n", NULL, &u), 1);
    assert_int_equal(u.ignored, 2);
    posture_dnf_updateinfo_done(&u);

    /* A line over the limit and a line with a NUL byte are skipped. */
    size_t big = POSTURE_DNF_LINE_MAX + 100;
    char *buf = malloc(big + 64);
    assert_non_null(buf);
    memset(buf, 'x', big);
    memcpy(buf + big, "\nX-1 Low/Sec. a-1-1.noarch\n", 28);
    assert_int_equal(posture_dnf_parse_updateinfo(buf, strlen(buf), NULL, &u), 1);
    assert_int_equal(u.ignored, 1);
    posture_dnf_updateinfo_done(&u);
    free(buf);
    static const char nul[] = "X-1 Low/Sec. b-1-1.noarch\0junk\nX-2 Low/Sec. a-1-1.noarch\n";
    assert_int_equal(posture_dnf_parse_updateinfo(nul, sizeof(nul) - 1, NULL, &u), 1);
    assert_string_equal(u.names[0], "a");
    posture_dnf_updateinfo_done(&u);

    assert_int_equal(posture_dnf_parse_updateinfo(NULL, 3, NULL, &u), -EINVAL);
    assert_int_equal(posture_dnf_parse_updateinfo("", 0, NULL, NULL), -EINVAL);
}

static void test_split_nevra(void **state)
{
    (void) state;
    static const struct {
        const char *nevra, *name, *arch;
    } ok[] = {
        { "openssl-libs-1:3.0.7-27.el9.x86_64", "openssl-libs", "x86_64" },
        { "kernel-6.8.9-300.fc40.x86_64", "kernel", "x86_64" },
        { "python3-urllib3-1.26.18-2.fc40.noarch", "python3-urllib3", "noarch" },
        { "glibc-2.39-8.fc40.i686", "glibc", "i686" },
        { "a-1-1.aarch64", "a", "aarch64" },
        { "java-17-openjdk-1:17.0.11.0.9-2.el9.ppc64le", "java-17-openjdk", "ppc64le" },
    };
    static const char *const bad[] = {
        "noarch",
        "foo.x86_64",
        "a-1.x86_64",
        "-1-2.x86_64",
        "foo-1-2.src",
        "foo-x:1-2.x86_64",
        "foo-:1-2.x86_64",
        "foo-1-.x86_64",
        "foo--2.x86_64",
        "foo-1-2.",
        "fo o-1-2.x86_64",
        "a/b-1-2.x86_64",
        "",
    };
    char *name, *arch;

    for (size_t i = 0; i < POSTURE_ELEMENTSOF(ok); i++) {
        assert_int_equal(posture_dnf_split_nevra(ok[i].nevra, &name, &arch), 0);
        assert_string_equal(name, ok[i].name);
        assert_string_equal(arch, ok[i].arch);
        free(name);
        free(arch);
    }
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(bad); i++)
        assert_int_equal(posture_dnf_split_nevra(bad[i], &name, &arch), -EINVAL);
    assert_int_equal(posture_dnf_split_nevra(NULL, &name, &arch), -EINVAL);
}

/* ---- dnf check-update ---- */

static void test_check_update(void **state)
{
    (void) state;
    /* dnf 4 on Fedora 40: notices, a long name wrapped onto two lines, then obsoletes. */
    static const char out[] =
        "Last metadata expiration check: 0:42:17 ago on Tue 07 May 2024 09:00:00 AM CEST.\n"
        "Security: kernel-core-6.8.8-300.fc40.x86_64 is an installed security update\n"
        "\n"
        "kernel.x86_64                            6.8.9-300.fc40                  updates\n"
        "kernel-core.x86_64                       6.8.9-300.fc40                  updates\n"
        "openssl-libs.x86_64                      1:3.2.1-2.fc40                  updates\n"
        "python3-some-extremely-long-package-name-for-wrapping.noarch\n"
        "                                         1.2.3-1.fc40                    updates\n"
        "glibc.i686                               2.39-8.fc40                     updates\n"
        "glibc.x86_64                             2.39-8.fc40                     updates\n"
        "Obsoleting Packages\n"
        "grub2-tools.x86_64                       1:2.06-120.fc40                 updates\n"
        "    grub2-tools.x86_64                   1:2.06-115.fc40                 @updates\n";
    size_t ignored = 99;

    assert_int_equal(posture_dnf_parse_check_update(out, strlen(out), &ignored), 6);
    assert_int_equal(ignored, 0);
    /* The same package twice (two repositories) counts once. */
    static const char twice[] = "a.x86_64 1-1 updates\na.x86_64 1-1 other\nb.noarch 2:3-4 x\n";
    assert_int_equal(posture_dnf_parse_check_update(twice, strlen(twice), NULL), 2);
    /* A wrapped name whose version never comes is ignored. */
    static const char dangling[] = "a.x86_64 1-1 updates\nlonely-name.noarch\n";
    assert_int_equal(posture_dnf_parse_check_update(dangling, strlen(dangling), &ignored), 1);
    assert_int_equal(ignored, 1);
    /* Nothing, or only notices. */
    assert_int_equal(posture_dnf_parse_check_update("", 0, NULL), 0);
    assert_int_equal(posture_dnf_parse_check_update(NULL, 0, NULL), 0);
    static const char notice[] = "Last metadata expiration check: 0:00:01 ago.\n";
    assert_int_equal(posture_dnf_parse_check_update(notice, strlen(notice), NULL), 0);
    /* Not understood. */
    static const char junk[] = "Error: Cache-only enabled but no cache for 'fedora'\n";
    assert_int_equal(posture_dnf_parse_check_update(junk, strlen(junk), NULL), -EBADMSG);
    static const char badver[] = "kernel.x86_64 latest updates\n";
    assert_int_equal(posture_dnf_parse_check_update(badver, strlen(badver), NULL), -EBADMSG);
    assert_int_equal(posture_dnf_parse_check_update(NULL, 1, NULL), -EINVAL);
}

/* ---- apt.conf ---- */

struct collected {
    char *items[64];
    size_t n;
    int fail_at; /* return -EIO at this call (1-based); 0: never */
};

static int collect_cb(const char *key, const char *value, void *userdata)
{
    struct collected *c = userdata;
    if (c->fail_at && (int) c->n + 1 == c->fail_at)
        return -EIO;
    assert_true(c->n < POSTURE_ELEMENTSOF(c->items));
    char *s = NULL;
    assert_true(asprintf(&s, "%s=%s", key, value ? value : "<clear>") > 0);
    c->items[c->n++] = s;
    return 0;
}

static void collected_done(struct collected *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->items[i]);
    *c = (struct collected){ 0 };
}

static int aptconf(const char *text, struct collected *c)
{
    collected_done(c);
    return posture_aptconf_parse(text, strlen(text), collect_cb, c);
}

static void expect_items(const struct collected *c, const char *const *want, size_t n)
{
    assert_int_equal(c->n, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(c->items[i], want[i]);
}

static void test_aptconf_syntax(void **state)
{
    (void) state;
    struct collected c = { 0 };

    static const char flat[] = "APT::Periodic::Update-Package-Lists \"1\";\n"
                               "APT::Periodic::Unattended-Upgrade \"1\";\n";
    static const char *const flat_want[] = { "APT::Periodic::Update-Package-Lists=1",
                                             "APT::Periodic::Unattended-Upgrade=1" };
    assert_int_equal(aptconf(flat, &c), 2);
    expect_items(&c, flat_want, 2);

    /* Nested blocks, "A::B {" prefixes, bare values, several statements on a line, CRLF. */
    static const char nested[] =
        "APT\r\n{\r\n  Periodic\r\n  {\r\n    Enable \"0\";\r\n"
        "    Unattended-Upgrade 7d; AutocleanInterval \"21\";\r\n"
        "  };\r\n};\r\nAPT::Periodic { Update-Package-Lists \"always\"; };\n"
        "Dir::Etc { main apt.conf; };\n";
    static const char *const nested_want[] = { "APT::Periodic::Enable=0",
                                               "APT::Periodic::Unattended-Upgrade=7d",
                                               "APT::Periodic::AutocleanInterval=21",
                                               "APT::Periodic::Update-Package-Lists=always",
                                               "Dir::Etc::main=apt.conf" };
    assert_int_equal(aptconf(nested, &c), 5);
    expect_items(&c, nested_want, 5);

    /* Comments of three kinds, not inside quotes; lists; #clear; #include is not followed. */
    static const char comments[] =
        "// APT::Periodic::Unattended-Upgrade \"0\";\n"
        "/* APT::Periodic::Enable \"0\";\n   still a comment; } { */\n"
        "# APT::Periodic::Enable \"0\";\n"
        "Acquire::http::Proxy \"http://proxy.example:3128/#x;{}\"; // trailing\n"
        "Unattended-Upgrade::Origins-Pattern { \"origin=Debian,label=Debian-Security\"; "
        "\"o=Debian\"; };\n"
        "#include \"/etc/apt/other.conf\";\n"
        "#clear APT::Periodic;\n"
        "APT::Periodic::Enable \"1\"; # a comment after a statement\n";
    static const char *const comments_want[] = {
        "Acquire::http::Proxy=http://proxy.example:3128/#x;{}", "APT::Periodic=<clear>",
        "APT::Periodic::Enable=1"
    };
    assert_int_equal(aptconf(comments, &c), 3);
    expect_items(&c, comments_want, 3);

    /* Empty input, only comments, stray semicolons. */
    assert_int_equal(aptconf("", &c), 0);
    assert_int_equal(aptconf("// nothing\n;;\n", &c), 0);
    assert_int_equal(posture_aptconf_parse(NULL, 0, collect_cb, &c), 0);

    /* A closing brace without the last ';' is accepted, as is #clear inside a block. */
    static const char lenient[] = "APT { Periodic { Enable \"1\" }; #clear Periodic; };\n";
    static const char *const lenient_want[] = { "APT::Periodic::Enable=1",
                                                "APT::Periodic=<clear>" };
    assert_int_equal(aptconf(lenient, &c), 2);
    expect_items(&c, lenient_want, 2);
    collected_done(&c);
}

static void test_aptconf_errors(void **state)
{
    (void) state;
    struct collected c = { 0 };
    static const char *const bad[] = {
        "APT { Periodic { Enable \"1\"; };\n", /* unbalanced */
        "APT::X \"1\"; };\n",                  /* a '}' too many */
        "APT::X \"1;\n",                       /* unterminated quote */
        "/* never closed\nAPT::X \"1\";\n",    /* unterminated comment */
        "APT::X \"1\"\n",                      /* no ';' at the end */
    };

    for (size_t i = 0; i < POSTURE_ELEMENTSOF(bad); i++)
        assert_int_equal(aptconf(bad[i], &c), -EBADMSG);
    assert_int_equal(posture_aptconf_parse("A \"1\";\0B \"2\";", 14, collect_cb, &c), -EBADMSG);

    /* Bounds: nesting depth, key length, value length, text size. */
    char deep[POSTURE_APTCONF_DEPTH_MAX * 4 + 64] = "";
    for (int i = 0; i <= POSTURE_APTCONF_DEPTH_MAX; i++)
        (void) snprintf(deep + strlen(deep), sizeof(deep) - strlen(deep), "a{");
    assert_int_equal(aptconf(deep, &c), -E2BIG);

    size_t n = POSTURE_APTCONF_KEY_MAX + 10;
    char *big = malloc(n + POSTURE_APTCONF_VALUE_MAX + 64);
    assert_non_null(big);
    memset(big, 'k', n);
    memcpy(big + n, " \"1\";", 6);
    assert_int_equal(aptconf(big, &c), -E2BIG);
    big[0] = 'K';
    memcpy(big, "K \"", 3);
    memset(big + 3, 'v', POSTURE_APTCONF_VALUE_MAX + 1);
    memcpy(big + 3 + POSTURE_APTCONF_VALUE_MAX + 1, "\";", 3);
    assert_int_equal(aptconf(big, &c), -E2BIG);
    free(big);
    assert_int_equal(posture_aptconf_parse("x", POSTURE_APTCONF_TEXT_MAX + 1, collect_cb, &c),
                     -E2BIG);

    /* The callback's error stops the parse. */
    c.fail_at = 2;
    assert_int_equal(posture_aptconf_parse("A \"1\"; B \"2\"; C \"3\";", 20, collect_cb, &c), -EIO);
    assert_int_equal(c.n, 1);
    collected_done(&c);

    assert_int_equal(posture_aptconf_parse(NULL, 1, collect_cb, &c), -EINVAL);
    assert_int_equal(posture_aptconf_parse("", 0, NULL, &c), -EINVAL);
}

static void test_aptconf_helpers(void **state)
{
    (void) state;
    static const char *const on[] = { "1", "7", "always", "1d", "12h", "30m", "3600s", "01" };
    static const char *const off[] = { "0",     "",    "0d",
                                       "never", "-1",  "1w",
                                       "d",     "1.5", "99999999999999999999999" };

    for (size_t i = 0; i < POSTURE_ELEMENTSOF(on); i++)
        assert_true(posture_aptconf_interval_enabled(on[i]));
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(off); i++)
        assert_false(posture_aptconf_interval_enabled(off[i]));
    assert_false(posture_aptconf_interval_enabled(NULL));

    assert_true(posture_aptconf_key_below("APT::Periodic::Enable", "apt::periodic"));
    assert_true(posture_aptconf_key_below("APT::Periodic", "APT::Periodic"));
    assert_false(posture_aptconf_key_below("APT::PeriodicX::Enable", "APT::Periodic"));
    assert_false(posture_aptconf_key_below("APT::Periodic:Enable", "APT::Periodic"));
    assert_false(posture_aptconf_key_below("APT", "APT::Periodic"));
    assert_false(posture_aptconf_key_below(NULL, "APT"));
}

/* ---- Kernels ---- */

static void test_kernel_releases(void **state)
{
    (void) state;
    static const struct {
        const char *pkg, *release;
    } t[] = {
        { "linux-image-6.1.0-18-amd64", "6.1.0-18-amd64" },
        { "linux-image-6.1.0-18-amd64-unsigned", "6.1.0-18-amd64" },
        { "linux-image-6.1.0-18-cloud-amd64", "6.1.0-18-cloud-amd64" },
        { "linux-image-6.12.12+bpo-amd64", "6.12.12+bpo-amd64" },
        { "linux-image-unsigned-6.8.0-31-generic", "6.8.0-31-generic" },
        { "linux-image-amd64", NULL },
        { "linux-image-generic-hwe-22.04", NULL },
        { "linux-image-6.1.0-18-amd64-dbg", NULL },
        { "linux-image-6.8.0-31-generic-dbgsym", NULL },
        { "linux-image-6.1.0-18-686:i386", NULL },
        { "linux-headers-6.1.0-18-amd64", NULL },
        { "linux-image-", NULL },
    };
    char *rel;

    for (size_t i = 0; i < POSTURE_ELEMENTSOF(t); i++) {
        assert_int_equal(posture_kernel_release_from_package(t[i].pkg, &rel), 0);
        if (t[i].release)
            assert_string_equal(rel, t[i].release);
        else
            assert_null(rel);
        free(rel);
    }
    assert_int_equal(posture_kernel_release_from_package(NULL, &rel), 0);
    assert_null(rel);

    assert_string_equal(posture_kernel_flavour("6.1.0-18-amd64"), "amd64");
    assert_string_equal(posture_kernel_flavour("6.1.0-18-cloud-amd64"), "cloud-amd64");
    assert_string_equal(posture_kernel_flavour("6.12.12+bpo-amd64"), "amd64");
    assert_string_equal(posture_kernel_flavour("6.8.0-31-generic"), "generic");
    assert_string_equal(posture_kernel_flavour("6.18.44-fc-v595"), "fc-v595");
    assert_null(posture_kernel_flavour("6.8.5-301.fc40.x86_64"));
    assert_null(posture_kernel_flavour(NULL));

    assert_true(posture_kernel_release_compare("6.1.0-18-amd64", "6.1.0-17-amd64") > 0);
    assert_true(posture_kernel_release_compare("6.1.0-9-amd64", "6.1.0-18-amd64") < 0);
    assert_true(posture_kernel_release_compare("6.12.12+bpo-amd64", "6.1.0-28-amd64") > 0);
    assert_int_equal(posture_kernel_release_compare("6.1.0-18-amd64", "6.1.0-18-cloud-amd64"), 0);
    assert_true(posture_kernel_release_compare("6.8.9-300.fc40.x86_64", "6.8.5-301.fc40.x86_64") >
                0);
}

static void test_kernel_newest(void **state)
{
    (void) state;
    char *rels[] = { "6.1.0-17-amd64", "6.1.0-18-cloud-amd64", "6.1.0-18-amd64",
                     "6.1.0-9-amd64",  "6.1.0-20-rt-amd64",    NULL };
    bool comparable = false;

    int i = posture_kernel_newest(rels, 5, "6.1.0-17-amd64", &comparable);
    assert_int_equal(i, 2); /* the amd64 flavour, not rt or cloud */
    assert_true(comparable);
    i = posture_kernel_newest(rels, 5, "6.1.0-18-cloud-amd64", &comparable);
    assert_int_equal(i, 1);
    assert_true(comparable);
    /* A kernel no package installed (a VM's own kernel): the newest of all, not comparable. */
    i = posture_kernel_newest(rels, 5, "6.18.44-fc-v595", &comparable);
    assert_int_equal(i, 4);
    assert_false(comparable);
    i = posture_kernel_newest(rels, 5, NULL, &comparable);
    assert_int_equal(i, 4);
    assert_false(comparable);
    /* Without a flavour (Fedora) everything compares. */
    char *fedora[] = { "6.8.5-301.fc40.x86_64", "6.8.9-300.fc40.x86_64", NULL };
    i = posture_kernel_newest(fedora, 2, "6.8.5-301.fc40.x86_64", &comparable);
    assert_int_equal(i, 1);
    assert_true(comparable);
    assert_int_equal(posture_kernel_newest(rels, 0, "6.1.0-17-amd64", &comparable), -ENOENT);
}

static void test_rpm_kernels(void **state)
{
    (void) state;
    char *dir = posture_test_mkdtemp();
    char **l = NULL;
    int fd = -1;

    assert_int_equal(posture_root_open(dir, &fd), 0);
    assert_int_equal(posture_rpm_kernels(fd, &l), 0);
    assert_non_null(l);
    assert_null(l[0]);
    l = posture_strv_free(l);
    /* RHEL 7: images in /boot only, the rescue image is not a kernel one boots into. */
    assert_int_equal(posture_test_write_file(dir, "boot/vmlinuz-3.10.0-1160.el7.x86_64", "x"), 0);
    assert_int_equal(posture_test_write_file(dir, "boot/vmlinuz-3.10.0-1160.105.1.el7.x86_64", "x"),
                     0);
    assert_int_equal(posture_test_write_file(dir, "boot/vmlinuz-0-rescue-0123456789abcdef", "x"),
                     0);
    assert_int_equal(posture_test_write_file(dir, "boot/config-3.10.0-1160.el7.x86_64", "x"), 0);
    assert_int_equal(posture_rpm_kernels(fd, &l), 2);
    assert_string_equal(l[0], "3.10.0-1160.105.1.el7.x86_64");
    assert_string_equal(l[1], "3.10.0-1160.el7.x86_64");
    l = posture_strv_free(l);
    /* Fedora: usr/lib/modules/<release>/vmlinuz wins over /boot; leftovers are skipped. */
    assert_int_equal(
        posture_test_write_file(dir, "usr/lib/modules/6.8.5-301.fc40.x86_64/vmlinuz", "x"), 0);
    assert_int_equal(
        posture_test_write_file(dir, "usr/lib/modules/6.8.9-300.fc40.x86_64/vmlinuz", "x"), 0);
    assert_int_equal(
        posture_test_write_file(dir, "usr/lib/modules/6.7.0-1.fc40.x86_64/extra/x.ko", "x"), 0);
    assert_int_equal(posture_rpm_kernels(fd, &l), 2);
    assert_string_equal(l[0], "6.8.5-301.fc40.x86_64");
    assert_string_equal(l[1], "6.8.9-300.fc40.x86_64");
    l = posture_strv_free(l);

    (void) close(fd);
    assert_int_equal(posture_test_rmdir_r(dir), 0);
    free(dir);
}

/* ---- INI, systemd units, automatic updates ---- */

static void test_ini_lookup(void **state)
{
    (void) state;
    static const char text[] = "[commands]\n"
                               "#  apply_updates = yes\n"
                               "; apply_updates = yes\n"
                               "upgrade_type = security\n"
                               "apply_updates = no\n"
                               "  apply_updates  =  yes  \r\n"
                               "[emitters]\n"
                               "apply_updates = no\n"
                               "[commands\n"
                               "download_updates: yes\n";
    char *v = NULL;

    assert_int_equal(posture_ini_lookup(text, "commands", "apply_updates", &v), 1);
    assert_string_equal(v, "yes"); /* the last one in [commands] */
    free(v);
    /* "[commands" (no ']') is not a header: we are still in [emitters]. */
    assert_int_equal(posture_ini_lookup(text, "emitters", "download_updates", &v), 1);
    assert_string_equal(v, "yes");
    free(v);
    v = NULL;
    assert_int_equal(posture_ini_lookup(text, "commands", "missing", &v), 0);
    assert_null(v);
    assert_int_equal(posture_ini_lookup("", "commands", "apply_updates", &v), 0);
    assert_int_equal(posture_ini_lookup(NULL, "commands", "apply_updates", &v), 0);
}

static int open_root(const char *dir)
{
    int fd;
    assert_int_equal(posture_root_open(dir, &fd), 0);
    return fd;
}

static void test_unit_state(void **state)
{
    (void) state;
    char *dir = posture_test_mkdtemp();
    int fd = open_root(dir);

    assert_int_equal(posture_unit_state(fd, "x.timer", "timers.target.wants"),
                     POSTURE_UNIT_NO_SYSTEMD);
    assert_int_equal(
        posture_test_write_file(dir, "etc/systemd/system/timers.target.wants/y.timer", "[Timer]\n"),
        0);
    assert_int_equal(posture_unit_state(fd, "x.timer", "timers.target.wants"),
                     POSTURE_UNIT_DISABLED);
    assert_int_equal(posture_test_symlink(dir, "etc/systemd/system/timers.target.wants/x.timer",
                                          "/lib/systemd/system/x.timer"),
                     0);
    assert_int_equal(posture_unit_state(fd, "x.timer", "timers.target.wants"),
                     POSTURE_UNIT_ENABLED);
    assert_int_equal(posture_unit_state(fd, "x.timer", "multi-user.target.wants"),
                     POSTURE_UNIT_NO_SYSTEMD);
    assert_int_equal(posture_test_symlink(dir, "etc/systemd/system/x.timer", "/dev/null"), 0);
    assert_int_equal(posture_unit_state(fd, "x.timer", "timers.target.wants"), POSTURE_UNIT_MASKED);
    assert_int_equal(posture_test_write_file(dir, "etc/systemd/system/y.timer", ""), 0);
    assert_int_equal(posture_unit_state(fd, "y.timer", "timers.target.wants"), POSTURE_UNIT_MASKED);
    /* A unit file with content overrides, it does not mask. */
    assert_int_equal(posture_test_write_file(dir, "etc/systemd/system/z.timer", "[Timer]\n"), 0);
    assert_int_equal(posture_unit_state(fd, "z.timer", "timers.target.wants"),
                     POSTURE_UNIT_DISABLED);

    (void) close(fd);
    assert_int_equal(posture_test_rmdir_r(dir), 0);
    free(dir);
}

static void expect_auto_rpm(const char *dir, bool on, const char *tool, const char *detail)
{
    struct posture_auto_updates a;
    int fd = open_root(dir);
    assert_int_equal(posture_auto_updates_rpm(fd, &a), 0);
    (void) close(fd);
    assert_int_equal(a.on, on);
    assert_string_equal(a.tool, tool);
    assert_string_equal(a.detail, detail);
    posture_auto_updates_done(&a);
    assert_null(a.detail);
}

static void test_auto_updates_rpm(void **state)
{
    (void) state;
    char *dir = posture_test_mkdtemp();

    expect_auto_rpm(dir, false, "dnf-automatic", "neither dnf-automatic nor yum-cron is enabled");
    assert_int_equal(posture_test_symlink(dir,
                                          "etc/systemd/system/timers.target.wants/"
                                          "dnf-automatic.timer",
                                          "/usr/lib/systemd/system/dnf-automatic.timer"),
                     0);
    expect_auto_rpm(dir, false, "dnf-automatic",
                    "dnf-automatic.timer is enabled but /etc/dnf/automatic.conf does not set "
                    "apply_updates = yes (it only downloads or notifies)");
    assert_int_equal(posture_test_write_file(dir, "etc/dnf/automatic.conf",
                                             "[commands]\nupgrade_type = default\n"
                                             "apply_updates = no\n"),
                     0);
    expect_auto_rpm(dir, false, "dnf-automatic",
                    "dnf-automatic.timer is enabled but /etc/dnf/automatic.conf sets "
                    "apply_updates = no");
    assert_int_equal(posture_test_write_file(dir, "etc/dnf/automatic.conf",
                                             "[commands]\napply_updates = True\n"),
                     0);
    expect_auto_rpm(dir, true, "dnf-automatic",
                    "dnf-automatic.timer is enabled and /etc/dnf/automatic.conf sets "
                    "apply_updates = True");
    /* dnf-automatic-install.timer installs whatever the file says. */
    assert_int_equal(
        posture_test_write_file(dir, "etc/dnf/automatic.conf", "[commands]\napply_updates = no\n"),
        0);
    assert_int_equal(posture_test_symlink(dir,
                                          "etc/systemd/system/timers.target.wants/"
                                          "dnf-automatic-install.timer",
                                          "/usr/lib/systemd/system/dnf-automatic-install.timer"),
                     0);
    expect_auto_rpm(dir, true, "dnf-automatic", "dnf-automatic-install.timer is enabled");
    assert_int_equal(posture_test_rmdir_r(dir), 0);
    free(dir);

    /* CentOS 7's yum-cron. */
    dir = posture_test_mkdtemp();
    assert_int_equal(posture_test_symlink(dir,
                                          "etc/systemd/system/multi-user.target.wants/"
                                          "yum-cron.service",
                                          "/usr/lib/systemd/system/yum-cron.service"),
                     0);
    expect_auto_rpm(dir, false, "yum-cron",
                    "yum-cron.service is enabled and /etc/yum/yum-cron.conf does not set "
                    "apply_updates = yes");
    assert_int_equal(posture_test_write_file(dir, "etc/yum/yum-cron.conf",
                                             "[commands]\nupdate_cmd = security\n"
                                             "apply_updates = yes\n"),
                     0);
    expect_auto_rpm(dir, true, "yum-cron",
                    "yum-cron.service is enabled and /etc/yum/yum-cron.conf sets apply_updates = "
                    "yes");
    assert_int_equal(posture_test_rmdir_r(dir), 0);
    free(dir);
}

static void expect_auto_apt(const char *dir, bool installed, bool on, const char *detail)
{
    struct posture_auto_updates a;
    int fd = open_root(dir);
    assert_int_equal(posture_auto_updates_apt(fd, installed, 0, &a), 0);
    (void) close(fd);
    assert_int_equal(a.on, on);
    assert_string_equal(a.tool, "unattended-upgrades");
    assert_string_equal(a.detail, detail);
    posture_auto_updates_done(&a);
}

static void test_auto_updates_apt(void **state)
{
    (void) state;
    char *dir = posture_test_mkdtemp();

    expect_auto_apt(dir, false, false, "unattended-upgrades is not installed");
    expect_auto_apt(dir, true, false, "APT::Periodic::Update-Package-Lists is not set");
    /* Ubuntu's 10periodic and 20auto-upgrades; apt.conf itself is read last. */
    assert_int_equal(posture_test_write_file(dir, "etc/apt/apt.conf.d/10periodic",
                                             "APT::Periodic::Update-Package-Lists \"1\";\n"
                                             "APT::Periodic::Unattended-Upgrade \"0\";\n"),
                     0);
    expect_auto_apt(dir, true, false,
                    "APT::Periodic::Unattended-Upgrade is \"0\" in /etc/apt/apt.conf.d/10periodic");
    assert_int_equal(posture_test_write_file(dir, "etc/apt/apt.conf.d/20auto-upgrades",
                                             "APT::Periodic::Unattended-Upgrade \"1\";\n"),
                     0);
    expect_auto_apt(dir, true, true,
                    "unattended-upgrades is installed and APT::Periodic enables it "
                    "(Update-Package-Lists \"1\", Unattended-Upgrade \"1\")");
    /* Files apt ignores by name. */
    static const char *const ignored[] = { "99off.dpkg-old", "99off.bak", ".99off",        "99off~",
                                           "99 off",         "99off.",    "99off.ucf-dist" };
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(ignored); i++) {
        char rel[128];
        (void) snprintf(rel, sizeof(rel), "etc/apt/apt.conf.d/%s", ignored[i]);
        assert_int_equal(posture_test_write_file(dir, rel, "APT::Periodic::Enable \"0\";\n"), 0);
    }
    expect_auto_apt(dir, true, true,
                    "unattended-upgrades is installed and APT::Periodic enables it "
                    "(Update-Package-Lists \"1\", Unattended-Upgrade \"1\")");
    /* ... and ones it reads, in strcmp order: "99off.conf" after "20auto-upgrades". */
    assert_int_equal(posture_test_write_file(dir, "etc/apt/apt.conf.d/99off.conf",
                                             "APT { Periodic { Enable \"0\"; }; };\n"),
                     0);
    expect_auto_apt(dir, true, false,
                    "APT::Periodic::Enable is \"0\" in /etc/apt/apt.conf.d/99off.conf");
    assert_int_equal(
        posture_test_write_file(dir, "etc/apt/apt.conf", "#clear APT::Periodic::Enable;\n"), 0);
    expect_auto_apt(dir, true, true,
                    "unattended-upgrades is installed and APT::Periodic enables it "
                    "(Update-Package-Lists \"1\", Unattended-Upgrade \"1\")");
    /* Timers: disabled on a systemd system, or masked. */
    assert_int_equal(posture_test_symlink(dir,
                                          "etc/systemd/system/timers.target.wants/apt-daily.timer",
                                          "/lib/systemd/system/apt-daily.timer"),
                     0);
    expect_auto_apt(dir, true, false, "apt-daily-upgrade.timer is disabled");
    assert_int_equal(posture_test_symlink(dir,
                                          "etc/systemd/system/timers.target.wants/"
                                          "apt-daily-upgrade.timer",
                                          "/lib/systemd/system/apt-daily-upgrade.timer"),
                     0);
    assert_int_equal(posture_test_symlink(dir, "etc/systemd/system/apt-daily.timer", "/dev/null"),
                     0);
    expect_auto_apt(dir, true, false, "apt-daily.timer is masked");
    /* A broken file: apt would not run at all. */
    assert_int_equal(
        posture_test_write_file(dir, "etc/apt/apt.conf.d/50broken", "APT { Periodic {\n"), 0);
    expect_auto_apt(dir, true, false,
                    "/etc/apt/apt.conf.d/50broken is not valid apt.conf syntax (EBADMSG), so apt "
                    "does not run");

    assert_int_equal(posture_test_rmdir_r(dir), 0);
    free(dir);
}

/* ---- dnf through a fake tool ---- */

static char *fake_dnf(const char *dir, const char *script)
{
    char *path = NULL;
    assert_true(asprintf(&path, "%s/dnf", dir) > 0);
    assert_int_equal(posture_test_write_file(dir, "dnf", script), 0);
    assert_int_equal(chmod(path, 0755), 0);
    return path;
}

static void test_dnf_collect(void **state)
{
    (void) state;
    char *dir = posture_test_mkdtemp();
    struct posture_dnf_facts f = { 0 };
    char *why = NULL;

    /* Both commands answer; check-update exits 100 when updates exist. */
    char *dnf =
        fake_dnf(dir, "#!/bin/sh\n"
                      "[ \"$1 $2\" = \"-C -q\" ] || exit 9\n"
                      "case \"$3\" in\n"
                      "updateinfo) [ \"$4 $5\" = \"list --security\" ] || exit 8\n"
                      "  echo 'FEDORA-2024-1 Important/Sec. kernel-core-6.8.9-300.fc40.x86_64'\n"
                      "  echo 'FEDORA-2024-2 Moderate/Sec. curl-8.6.0-8.fc40.x86_64'; exit 0;;\n"
                      "check-update) printf '\\nkernel-core.x86_64 6.8.9-300.fc40 updates\\n"
                      "curl.x86_64 8.6.0-8.fc40 updates\\nvim-minimal.x86_64 2:9.1.393-1.fc40 "
                      "updates\\n'; exit 100;;\n"
                      "esac\nexit 7\n");
    assert_int_equal(posture_dnf_collect(dnf, 5 * 1000000, "x86_64", &f, &why), 0);
    assert_null(why);
    assert_int_equal(f.pending, 3);
    assert_int_equal(f.pending_security, 2);
    assert_string_equal(f.security_names[0], "curl");
    assert_string_equal(f.security_names[1], "kernel-core");
    posture_dnf_facts_done(&f);
    free(dnf);

    /* Nothing pending: check-update exits 0 with no output. */
    dnf = fake_dnf(dir, "#!/bin/sh\nexit 0\n");
    assert_int_equal(posture_dnf_collect(dnf, 5 * 1000000, "x86_64", &f, &why), 0);
    assert_int_equal(f.pending, 0);
    assert_int_equal(f.pending_security, 0);
    posture_dnf_facts_done(&f);
    free(dnf);

    /* No cache: an error with dnf's own words. */
    dnf = fake_dnf(dir, "#!/bin/sh\necho \"Error: Cache-only enabled but no cache for 'fedora'\" "
                        ">&2\nexit 1\n");
    assert_int_equal(posture_dnf_collect(dnf, 5 * 1000000, "x86_64", &f, &why), -EIO);
    assert_non_null(strstr(why, "updateinfo exited with status 1: Error: Cache-only enabled"));
    free(why);
    why = NULL;
    free(dnf);

    /* check-update says "updates" (100) but lists none we understand. */
    dnf = fake_dnf(dir, "#!/bin/sh\n[ \"$3\" = check-update ] && { echo gibberish; exit 100; }\n"
                        "exit 0\n");
    assert_int_equal(posture_dnf_collect(dnf, 5 * 1000000, "x86_64", &f, &why), -EBADMSG);
    assert_non_null(strstr(why, "check-update was not understood (\"gibberish\")"));
    free(why);
    why = NULL;
    free(dnf);

    /* A hanging tool is killed at the timeout. */
    dnf = fake_dnf(dir, "#!/bin/sh\nexec sleep 30\n");
    assert_int_equal(posture_dnf_collect(dnf, 300 * 1000, "x86_64", &f, &why), -ETIMEDOUT);
    assert_non_null(strstr(why, "did not finish within 1 s"));
    free(why);
    why = NULL;
    free(dnf);

    /* A missing tool. */
    char *missing = NULL;
    assert_true(asprintf(&missing, "%s/no-such-dnf", dir) > 0);
    assert_true(posture_dnf_collect(missing, 1000000, "x86_64", &f, &why) < 0);
    free(why);
    free(missing);

    assert_int_equal(posture_test_rmdir_r(dir), 0);
    free(dir);
}

/* ---- The check on fixture roots ---- */

/* Give every file in dir/var/lib/apt/lists the mtime now - age_s. */
static void age_lists(const char *dir, long age_s)
{
    char lists[PATH_MAX];
    assert_true(snprintf(lists, sizeof(lists), "%s/var/lib/apt/lists", dir) < (int) sizeof(lists));
    DIR *d = opendir(lists);
    if (!d)
        return;
    int dfd = dirfd(d);
    struct timespec ts[2] = { { .tv_sec = time(NULL) - age_s }, { .tv_sec = time(NULL) - age_s } };
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.')
            assert_int_equal(utimensat(dfd, de->d_name, ts, AT_SYMLINK_NOFOLLOW), 0);
    assert_int_equal(closedir(d), 0);
}

static struct posture_result *
run_check(const char *root, const char *config_body, struct posture_run **ret_run)
{
    struct posture_result *r = posture_test_run_check("os.patch_level", root, config_body, ret_run);
    assert_string_equal(r->version, "1.0.0");
    return r;
}

struct scenario {
    const char *name;    /* what the test shows */
    const char *fixture; /* tests/fixtures/roots/os.patch_level/<fixture> */
    const char *config;  /* [check.os.patch_level] body, or NULL */
    long list_age_s;     /* age given to the lists */
    int status;
    int error;               /* the errno run() returned, or 0 */
    const char *reason;      /* NULL: it names the root path */
    const char *remediation; /* NULL: none */
    const char *package_manager;
    bool no_counts; /* no pending_updates, pending_security_updates, security_packages */
    int pending, security;
    const char *security_packages[4];
    bool no_host_facts; /* no reboot_required, kernels, auto_updates */
    bool reboot;
    const char *running_kernel, *newest_kernel;
    bool auto_updates;
};

#define HOUR            3600L
#define DAY             (24 * HOUR)
#define NOTHING_PENDING "No security updates pending (0 other updates)"
#define APT_UPGRADE     "Run: sudo apt-get update && sudo apt-get upgrade"
#define INSTALL_UU                                                                  \
    "Run: sudo apt-get install unattended-upgrades && sudo dpkg-reconfigure -plow " \
    "unattended-upgrades"
#define KERNEL_18_NOT_17 \
    "A reboot is required (kernel 6.1.0-18-amd64 is installed but 6.1.0-17-amd64 is running)"

static const struct scenario scenarios[] = {
    { .name = "nothing pending",
      .fixture = "no-pending",
      .list_age_s = HOUR,
      .status = POSTURE_STATUS_PASS,
      .reason = NOTHING_PENDING,
      .package_manager = "dpkg" },
    { .name = "other updates only",
      .fixture = "updates-only",
      .list_age_s = HOUR,
      .status = POSTURE_STATUS_PASS,
      .reason = "No security updates pending (2 other updates)",
      .package_manager = "dpkg",
      .pending = 2 },
    { .name = "security updates pending",
      .fixture = "security-pending",
      .list_age_s = HOUR,
      .status = POSTURE_STATUS_FAIL,
      .reason = "2 security updates pending (libssl3, openssl)",
      .remediation = APT_UPGRADE,
      .package_manager = "dpkg",
      .pending = 3,
      .security = 2,
      .security_packages = { "libssl3", "openssl" } },
    { .name = "security updates within the threshold",
      .fixture = "security-pending",
      .config = "max_pending_security = 2\n",
      .list_age_s = HOUR,
      .status = POSTURE_STATUS_PASS,
      .reason = "2 security updates pending, within the allowed 2 (1 other update)",
      .package_manager = "dpkg",
      .pending = 3,
      .security = 2,
      .security_packages = { "libssl3", "openssl" } },
    { .name = "security beats stale lists",
      .fixture = "security-pending",
      .list_age_s = 30 * DAY,
      .status = POSTURE_STATUS_FAIL,
      .reason = "2 security updates pending (libssl3, openssl)",
      .remediation = APT_UPGRADE,
      .package_manager = "dpkg",
      .pending = 3,
      .security = 2,
      .security_packages = { "libssl3", "openssl" } },
    { .name = "stale lists",
      .fixture = "no-pending",
      .list_age_s = 12 * DAY + HOUR,
      .status = POSTURE_STATUS_WARN,
      .reason = "Package lists were last updated 12 days ago; pending updates may be missing",
      .remediation = "Run: sudo apt-get update",
      .package_manager = "dpkg" },
    { .name = "stale lists, shorter limit",
      .fixture = "no-pending",
      .config = "max_list_age = 12h\n",
      .list_age_s = 13 * HOUR,
      .status = POSTURE_STATUS_WARN,
      .reason = "Package lists were last updated 13 hours ago; pending updates may be missing",
      .remediation = "Run: sudo apt-get update",
      .package_manager = "dpkg" },
    { .name = "stale lists, age check off",
      .fixture = "no-pending",
      .config = "max_list_age = 0\n",
      .list_age_s = 400 * DAY,
      .status = POSTURE_STATUS_PASS,
      .reason = NOTHING_PENDING,
      .package_manager = "dpkg" },
    { .name = "reboot-required file",
      .fixture = "reboot-required",
      .list_age_s = HOUR,
      .status = POSTURE_STATUS_WARN,
      .reason = "A reboot is required (/run/reboot-required names linux-image-6.1.0-18-amd64, "
                "libc6)",
      .remediation = "Reboot the system",
      .package_manager = "dpkg",
      .reboot = true },
    { .name = "reboot-required file, warn_reboot off",
      .fixture = "reboot-required",
      .config = "warn_reboot = no\n",
      .list_age_s = HOUR,
      .status = POSTURE_STATUS_PASS,
      .reason = NOTHING_PENDING,
      .package_manager = "dpkg",
      .reboot = true },
    { .name = "newer kernel of the running flavour",
      .fixture = "kernel-newer",
      .list_age_s = HOUR,
      .status = POSTURE_STATUS_WARN,
      .reason = KERNEL_18_NOT_17,
      .remediation = "Reboot to run kernel 6.1.0-18-amd64",
      .package_manager = "dpkg",
      .reboot = true,
      .running_kernel = "6.1.0-17-amd64",
      .newest_kernel = "6.1.0-18-amd64" },
    { .name = "reboot and stale lists together",
      .fixture = "kernel-newer",
      .list_age_s = 9 * DAY,
      .status = POSTURE_STATUS_WARN,
      .reason = KERNEL_18_NOT_17 "; package lists were last updated 9 days ago; pending updates "
                                 "may be missing",
      .remediation = "Reboot to run kernel 6.1.0-18-amd64; Run: sudo apt-get update",
      .package_manager = "dpkg",
      .reboot = true,
      .running_kernel = "6.1.0-17-amd64",
      .newest_kernel = "6.1.0-18-amd64" },
    { .name = "same release, newer package",
      .fixture = "kernel-same-release",
      .list_age_s = HOUR,
      .status = POSTURE_STATUS_WARN,
      .reason = "A reboot is required (the running kernel 6.1.0-18-amd64 was built from package "
                "version 6.1.76-1 but 6.1.76-1+deb12u1 is installed)",
      .remediation = "Reboot to run kernel 6.1.0-18-amd64",
      .package_manager = "dpkg",
      .reboot = true,
      .running_kernel = "6.1.0-18-amd64",
      .newest_kernel = "6.1.0-18-amd64" },
    { .name = "Ubuntu: same release, newer package",
      .fixture = "kernel-ubuntu",
      .list_age_s = HOUR,
      .status = POSTURE_STATUS_WARN,
      .reason = "A reboot is required (the running kernel 6.8.0-31-generic was built from package "
                "version 6.8.0-31.31 but 6.8.0-31.32 is installed)",
      .remediation = "Reboot to run kernel 6.8.0-31-generic",
      .package_manager = "dpkg",
      .reboot = true,
      .running_kernel = "6.8.0-31-generic",
      .newest_kernel = "6.8.0-31-generic" },
    { .name = "running the newest kernel",
      .fixture = "kernel-current",
      .list_age_s = HOUR,
      .status = POSTURE_STATUS_PASS,
      .reason = NOTHING_PENDING,
      .package_manager = "dpkg",
      .running_kernel = "6.1.0-18-amd64",
      .newest_kernel = "6.1.0-18-amd64" },
    { .name = "unattended-upgrades on",
      .fixture = "auto-updates-on",
      .config = "require_auto_updates = yes\n",
      .list_age_s = HOUR,
      .status = POSTURE_STATUS_PASS,
      .reason = NOTHING_PENDING,
      .package_manager = "dpkg",
      .auto_updates = true },
    { .name = "unattended-upgrades off in a nested block",
      .fixture = "auto-updates-off",
      .config = "require_auto_updates = yes\n",
      .list_age_s = HOUR,
      .status = POSTURE_STATUS_WARN,
      .reason = "Automatic updates are off (APT::Periodic::Unattended-Upgrade is \"0\" in "
                "/etc/apt/apt.conf.d/99local)",
      .remediation = INSTALL_UU,
      .package_manager = "dpkg" },
    { .name = "unattended-upgrades off, not required",
      .fixture = "auto-updates-off",
      .list_age_s = HOUR,
      .status = POSTURE_STATUS_PASS,
      .reason = NOTHING_PENDING,
      .package_manager = "dpkg" },
    { .name = "apt-daily-upgrade.timer masked",
      .fixture = "auto-updates-masked",
      .config = "require_auto_updates = yes\n",
      .list_age_s = HOUR,
      .status = POSTURE_STATUS_WARN,
      .reason = "Automatic updates are off (apt-daily-upgrade.timer is masked)",
      .remediation = INSTALL_UU,
      .package_manager = "dpkg" },
    { .name = "not a dpkg or RPM system",
      .fixture = "not-dpkg",
      .list_age_s = HOUR,
      .status = POSTURE_STATUS_ERROR,
      .error = -ENOPKG,
      .reason = "No supported package manager (dpkg/apt, dnf, yum) found: neither "
                "/var/lib/dpkg/status nor an RPM database exists",
      .remediation = "Check this system's updates with its own package manager; posture "
                     "reads dpkg/apt, dnf and yum.",
      .no_counts = true,
      .no_host_facts = true },
    { .name = "RPM root that is not the host",
      .fixture = "rpm-dnf",
      .list_age_s = HOUR,
      .status = POSTURE_STATUS_ERROR,
      .error = -EOPNOTSUPP,
      .remediation = "Run posturectl check on that system itself, without --root.",
      .package_manager = "dnf",
      .no_counts = true,
      .no_host_facts = true },
    { .name = "RPM without dnf or yum",
      .fixture = "rpm-no-dnf",
      .list_age_s = HOUR,
      .status = POSTURE_STATUS_ERROR,
      .error = -ENOPKG,
      .reason = "An RPM database exists but neither dnf nor yum is installed, so pending updates "
                "cannot be listed",
      .remediation = "Install dnf (Fedora, RHEL 8+) or yum (RHEL 7).",
      .package_manager = "rpm",
      .no_counts = true,
      .no_host_facts = true },
    { .name = "no package lists",
      .fixture = "no-lists",
      .list_age_s = HOUR,
      .status = POSTURE_STATUS_ERROR,
      .error = -ENODATA,
      .reason = "No apt package lists in /var/lib/apt/lists; pending updates cannot be known",
      .remediation = "Run: sudo apt-get update",
      .package_manager = "dpkg" },
    { .name = "a malformed list",
      .fixture = "bad-list",
      .list_age_s = HOUR,
      .status = POSTURE_STATUS_ERROR,
      .error = -EBADMSG,
      .reason = "/var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_"
                "Packages is malformed; pending updates cannot be computed",
      .remediation = "Run: sudo apt-get update",
      .package_manager = "dpkg",
      .no_counts = true,
      .no_host_facts = true },
};

#define NONE (-1) /* an evidence value that must be absent */

static void ev_number(const cJSON *ev, const char *key, int want)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(ev, key);
    if (want == NONE) {
        assert_null(item);
        return;
    }
    assert_true(cJSON_IsNumber(item));
    assert_int_equal((int) item->valuedouble, want);
}

static void ev_bool(const cJSON *ev, const char *key, int want)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(ev, key);
    if (want == NONE) {
        assert_null(item);
        return;
    }
    assert_true(cJSON_IsBool(item));
    assert_int_equal(cJSON_IsTrue(item), want);
}

static void ev_string(const cJSON *ev, const char *key, const char *want)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(ev, key);
    if (!want) {
        assert_true(!item || cJSON_IsNull(item));
        return;
    }
    assert_true(cJSON_IsString(item));
    assert_string_equal(item->valuestring, want);
}

static void run_scenario(const struct scenario *s)
{
    char rel[256];
    struct posture_run *run = NULL;
    char *tmp = posture_test_mkdtemp();
    char root[PATH_MAX];

    (void) snprintf(rel, sizeof(rel), "fixtures/roots/os.patch_level/%s", s->fixture);
    assert_true(snprintf(root, sizeof(root), "%s/root", tmp) < (int) sizeof(root));
    posture_test_copy_tree(posture_test_path(rel), root);
    age_lists(root, s->list_age_s);

    struct posture_result *r = run_check(root, s->config, &run);
    print_message("  %s: %s: %s\n", s->name, r->reason ? r->reason : "(no reason)",
                  r->remediation ? r->remediation : "-");
    assert_int_equal(r->status, s->status);
    assert_int_equal(r->error, s->error);
    if (s->reason)
        assert_string_equal(r->reason, s->reason);
    else
        assert_non_null(strstr(r->reason, root));
    if (s->remediation)
        assert_string_equal(r->remediation, s->remediation);
    else
        assert_null(r->remediation);

    const cJSON *ev = r->evidence;
    ev_string(ev, "package_manager", s->package_manager);
    ev_number(ev, "pending_updates", s->no_counts ? NONE : s->pending);
    ev_number(ev, "pending_security_updates", s->no_counts ? NONE : s->security);
    const cJSON *names = cJSON_GetObjectItemCaseSensitive(ev, "security_packages");
    if (s->no_counts) {
        assert_null(names);
    } else {
        assert_true(cJSON_IsArray(names));
        assert_int_equal(cJSON_GetArraySize(names), s->security);
        for (int i = 0; i < s->security; i++)
            assert_string_equal(cJSON_GetArrayItem(names, i)->valuestring, s->security_packages[i]);
    }
    ev_bool(ev, "reboot_required", s->no_host_facts ? NONE : s->reboot);
    ev_bool(ev, "auto_updates", s->no_host_facts ? NONE : s->auto_updates);
    if (!s->no_host_facts) {
        ev_string(ev, "running_kernel", s->running_kernel);
        ev_string(ev, "newest_kernel", s->newest_kernel);
    }
    /* lists_updated_at: the age we gave the lists (a number, or absent on errors). */
    const cJSON *at = cJSON_GetObjectItemCaseSensitive(ev, "lists_updated_at");
    if (s->no_counts || strcmp(s->fixture, "no-lists") == 0) {
        assert_true(!at || cJSON_IsNull(at));
    } else {
        assert_true(cJSON_IsNumber(at));
        double want = (double) (time(NULL) - s->list_age_s);
        assert_true(at->valuedouble > want - 5 && at->valuedouble <= want + 1);
    }

    posture_run_free(run);
    assert_int_equal(posture_test_rmdir_r(tmp), 0);
    free(tmp);
}

static void test_check_scenarios(void **state)
{
    (void) state;
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(scenarios); i++)
        run_scenario(&scenarios[i]);
}

/* The reboot-required packages and the auto-updates detail are evidence too. */
static void test_check_extra_evidence(void **state)
{
    (void) state;
    struct posture_run *run = NULL;
    const cJSON *item;

    struct posture_result *r =
        run_check(posture_test_path("fixtures/roots/os.patch_level/reboot-required"),
                  "max_list_age = 0\n", &run);
    item = cJSON_GetObjectItemCaseSensitive(r->evidence, "reboot_required_packages");
    assert_true(cJSON_IsArray(item));
    assert_int_equal(cJSON_GetArraySize(item), 2); /* de-duplicated, blank lines dropped */
    assert_string_equal(cJSON_GetArrayItem(item, 0)->valuestring, "linux-image-6.1.0-18-amd64");
    assert_string_equal(cJSON_GetArrayItem(item, 1)->valuestring, "libc6");
    ev_number(r->evidence, "installed_packages", 5);
    ev_number(r->evidence, "lists", 2);
    posture_run_free(run);

    r = run_check(posture_test_path("fixtures/roots/os.patch_level/auto-updates-on"),
                  "max_list_age = 0\n", &run);
    ev_string(r->evidence, "auto_updates_detail",
              "unattended-upgrades is installed and APT::Periodic enables it "
              "(Update-Package-Lists \"1\", Unattended-Upgrade \"1\")");
    posture_run_free(run);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_updateinfo_dnf4_fedora),
        cmocka_unit_test(test_updateinfo_rhel_epochs),
        cmocka_unit_test(test_updateinfo_dnf5_and_yum),
        cmocka_unit_test(test_updateinfo_bad_input),
        cmocka_unit_test(test_split_nevra),
        cmocka_unit_test(test_check_update),
        cmocka_unit_test(test_aptconf_syntax),
        cmocka_unit_test(test_aptconf_errors),
        cmocka_unit_test(test_aptconf_helpers),
        cmocka_unit_test(test_kernel_releases),
        cmocka_unit_test(test_kernel_newest),
        cmocka_unit_test(test_rpm_kernels),
        cmocka_unit_test(test_ini_lookup),
        cmocka_unit_test(test_unit_state),
        cmocka_unit_test(test_auto_updates_rpm),
        cmocka_unit_test(test_auto_updates_apt),
        cmocka_unit_test(test_dnf_collect),
        cmocka_unit_test(test_check_scenarios),
        cmocka_unit_test(test_check_extra_evidence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
