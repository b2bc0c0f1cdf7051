/* SPDX-License-Identifier: Apache-2.0 */
/* Decoders of UEFI variables and the kernel lockdown file (see efivar.h). */
#include "efivar.h"

#include <errno.h>
#include <string.h>

#include "posture/err.h"

static int parse_bool_byte(const unsigned char *data, size_t n, bool *ret)
{
    if (n != 1)
        return -EBADMSG;
    if (data[0] > 1)
        return -ERANGE;
    *ret = data[0] == 1;
    return 0;
}

int posture_efivar_parse_bool(const void *buf, size_t len, uint32_t *ret_attributes, bool *ret)
{
    const unsigned char *p = buf;
    bool value;

    POSTURE_RETURN_IF_FAIL(ret, -EINVAL);
    POSTURE_RETURN_IF_FAIL(buf || len == 0, -EINVAL);
    if (len == 0)
        return -ENODATA;
    if (len <= POSTURE_EFIVARFS_ATTR_SIZE)
        return -EBADMSG;
    int r =
        parse_bool_byte(p + POSTURE_EFIVARFS_ATTR_SIZE, len - POSTURE_EFIVARFS_ATTR_SIZE, &value);
    if (r < 0)
        return r;
    if (ret_attributes)
        *ret_attributes =
            (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
    *ret = value;
    return 0;
}

int posture_efivar_parse_bool_data(const void *buf, size_t len, bool *ret)
{
    POSTURE_RETURN_IF_FAIL(ret, -EINVAL);
    POSTURE_RETURN_IF_FAIL(buf || len == 0, -EINVAL);
    if (len == 0)
        return -ENODATA;
    return parse_bool_byte(buf, len, ret);
}

int posture_efivar_parse_attributes_text(const char *text, size_t len, uint32_t *ret)
{
    static const struct {
        const char *name;
        uint32_t bit;
    } names[] = {
        { "EFI_VARIABLE_NON_VOLATILE", POSTURE_EFI_VARIABLE_NON_VOLATILE },
        { "EFI_VARIABLE_BOOTSERVICE_ACCESS", POSTURE_EFI_VARIABLE_BOOTSERVICE_ACCESS },
        { "EFI_VARIABLE_RUNTIME_ACCESS", POSTURE_EFI_VARIABLE_RUNTIME_ACCESS },
    };
    uint32_t attributes = 0;

    POSTURE_RETURN_IF_FAIL(ret, -EINVAL);
    POSTURE_RETURN_IF_FAIL(text || len == 0, -EINVAL);
    if (len > 0 && memchr(text, '\0', len))
        return -EBADMSG;

    for (size_t pos = 0; pos < len;) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t) (nl - line) : len - pos;
        pos += n + (nl ? 1 : 0);
        while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r'))
            n--;
        for (size_t i = 0; i < POSTURE_ELEMENTSOF(names); i++)
            if (n == strlen(names[i].name) && memcmp(line, names[i].name, n) == 0)
                attributes |= names[i].bit;
    }
    *ret = attributes;
    return 0;
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool posture_efivar_name_is_variable(const char *name)
{
    /* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx": dashes at 8, 13, 18, 23. */
    static const size_t guid_len = 36;

    if (!name)
        return false;
    size_t n = strlen(name);
    if (n < guid_len + 2) /* at least one character of name and the separating dash */
        return false;
    const char *guid = name + n - guid_len;
    if (guid[-1] != '-')
        return false;
    for (size_t i = 0; i < guid_len; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? guid[i] != '-' : !is_hex(guid[i]))
            return false;
    }
    return true;
}

static bool is_mode_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int posture_lockdown_parse(const char *text, size_t len, char *ret_mode, size_t mode_size)
{
    const char *active = NULL;
    size_t active_len = 0;

    POSTURE_RETURN_IF_FAIL(ret_mode, -EINVAL);
    POSTURE_RETURN_IF_FAIL(mode_size > POSTURE_LOCKDOWN_MODE_MAX, -EINVAL);
    POSTURE_RETURN_IF_FAIL(text || len == 0, -EINVAL);
    if (len > 0 && memchr(text, '\0', len))
        return -EBADMSG;

    for (size_t pos = 0; pos < len;) {
        if (is_blank(text[pos])) {
            pos++;
            continue;
        }
        size_t start = pos;
        while (pos < len && !is_blank(text[pos]))
            pos++;
        const char *word = text + start;
        size_t n = pos - start;
        bool bracketed = n >= 2 && word[0] == '[' && word[n - 1] == ']';
        if (bracketed) {
            if (active)
                return -EBADMSG; /* two active modes */
            word++;
            n -= 2;
        }
        if (n == 0 || n > POSTURE_LOCKDOWN_MODE_MAX)
            return -EBADMSG;
        for (size_t i = 0; i < n; i++)
            if (!is_mode_char(word[i]))
                return -EBADMSG; /* also a lone '[' or ']' */
        if (bracketed) {
            active = word;
            active_len = n;
        }
    }
    if (!active)
        return -EBADMSG;
    memcpy(ret_mode, active, active_len);
    ret_mode[active_len] = '\0';
    return 0;
}
