/* SPDX-License-Identifier: Apache-2.0 */
/* libcurl loaded on first use; see curl_dl.h. */

#include "curl_dl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define LIBCURL_SONAME "libcurl.so.4"

static struct posture_curl_api api;
static const struct posture_curl_api *loaded;
static char why[256];
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* dlsym's void * to a function pointer, through memcpy (ISO C has no direct conversion). */
static int sym(void *h, const char *name, void *fnptr, size_t size)
{
    void *p = dlsym(h, name);

    if (!p) {
        (void) snprintf(why, sizeof(why), "%s: no symbol %s", LIBCURL_SONAME, name);
        return -1;
    }
    memcpy(fnptr, &p, size);
    return 0;
}

#define SYM(h, name, field) sym((h), (name), &api.field, sizeof(api.field))

static void load(void)
{
    void *h = dlopen(LIBCURL_SONAME, RTLD_NOW | RTLD_LOCAL);

    if (!h) {
        const char *e = dlerror();
        (void) snprintf(why, sizeof(why), "%s", e ? e : LIBCURL_SONAME ": cannot be loaded");
        return;
    }
    if (SYM(h, "curl_global_init", global_init) < 0 || SYM(h, "curl_easy_init", easy_init) < 0 ||
        SYM(h, "curl_easy_cleanup", easy_cleanup) < 0 ||
        SYM(h, "curl_easy_setopt", easy_setopt) < 0 ||
        SYM(h, "curl_easy_perform", easy_perform) < 0 ||
        SYM(h, "curl_easy_getinfo", easy_getinfo) < 0 ||
        SYM(h, "curl_easy_strerror", easy_strerror) < 0 ||
        SYM(h, "curl_easy_header", easy_header) < 0 ||
        SYM(h, "curl_slist_append", slist_append) < 0 ||
        SYM(h, "curl_slist_free_all", slist_free_all) < 0 || SYM(h, "curl_getdate", getdate) < 0) {
        (void) dlclose(h);
        return;
    }
    loaded = &api; /* h stays open for the life of the process */
}

const struct posture_curl_api *posture_curl_api(const char **ret_why)
{
    (void) pthread_once(&once, load);
    if (!loaded && ret_why)
        *ret_why = why;
    return loaded;
}
