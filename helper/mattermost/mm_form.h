/*
 * multipart/form-data bodies for Mattermost's uploads (a custom emoji, an
 * avatar, the plugin's attachment), written into a file of the spool around
 * the file's bytes and sent from there: never the whole file in memory.
 */
#ifndef FERRY_MM_FORM_H
#define FERRY_MM_FORM_H

#include <stddef.h>

typedef struct {
    const char *name;
    const char *value;
} mm_form_field_t;

#define MM_FORM_TYPE_LEN 128

/* The image type of a file by its first bytes: "image/png", "image/jpeg",
 * "image/gif", or NULL for anything else (or an unreadable file). */
const char *mm_image_type(const char *path);

/* Writes the form to form (a new file): the text fields (name NULL ends
 * them), then the part file_field with the bytes of src under filename and
 * file_type. Its Content-Type header value goes to content_type
 * (MM_FORM_TYPE_LEN bytes). 0, or -1 with why in err (form then removed). */
int mm_form_write(const char *form, const mm_form_field_t *fields,
    const char *file_field, const char *filename, const char *file_type,
    const char *src, char *content_type, char *err, size_t errlen);

#endif
