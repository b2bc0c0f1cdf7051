/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * libcurl, loaded when first needed (dlopen of libcurl.so.4) instead of at every start of
 * posturectl: libcurl drags in some 25 shared libraries (GnuTLS, Kerberos, LDAP, SSH, RTMP...)
 * whose relocation costs ~5 MB of RSS and CPU in every `posturectl check`, which never talks
 * to the verifier. Only the functions the client uses are resolved.
 */

#include <time.h>

#include <curl/curl.h>

struct posture_curl_api {
    CURLcode (*global_init)(long flags);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *h);
    CURLcode (*easy_setopt)(CURL *h, CURLoption option, ...);
    CURLcode (*easy_perform)(CURL *h);
    CURLcode (*easy_getinfo)(CURL *h, CURLINFO info, ...);
    const char *(*easy_strerror)(CURLcode code);
    CURLHcode (*easy_header)(CURL *h,
                             const char *name,
                             size_t index,
                             unsigned int origin,
                             int request,
                             struct curl_header **hout);
    struct curl_slist *(*slist_append)(struct curl_slist *list, const char *s);
    void (*slist_free_all)(struct curl_slist *list);
    time_t (*getdate)(const char *p, const time_t *unused);
};

/* The loaded API (loaded once, thread-safe), or NULL when libcurl.so.4 or one of its symbols
 * cannot be found (then *ret_why, when not NULL, says why: dlerror's text). */
const struct posture_curl_api *posture_curl_api(const char **ret_why);
