/*
 * The export's last steps, once the messages are in: Slack's archived
 * channels archived and its deleted users deactivated in Mattermost
 * (the original archived first, and its posts then failed).
 */
#ifndef FERRY_MM_EXPORT_FINISH_H
#define FERRY_MM_EXPORT_FINISH_H

#include "mm_export.h"

/* 0, or -1 on a database error; a Mattermost refusal is logged. */
int mm_export_finish(mm_export_t *x);

#endif
