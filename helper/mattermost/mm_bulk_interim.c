/*
 * INTERIM, to be deleted when helper/mattermost/mm_markup.c lands on main
 * (it is being written in /work/h-markup): until then the bulk archive
 * carries Slack's raw text. The link fails on a duplicate symbol the day
 * both exist, so this file cannot outlive it unnoticed.
 */
#include <stdlib.h>
#include <string.h>

#include "ferry_json.h"
#include "mm_markup.h"

char *
mm_markup_message(const cJSON *msg, mm_markup_name_pt name, void *ctx)
{
    const char *text = ferry_json_str(msg, "text");

    (void) name;
    (void) ctx;

    return strdup(text ? text : "");
}
