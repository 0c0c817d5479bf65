/*
 * config_rows — what the files of the settings table share: the two
 * sections of rows (config_rows_serving.c, config_rows_running.c) and the
 * checks their rows name (config_table.c). Nothing outside the table
 * includes it. Same rules as config.h.
 */
#pragma once

#include <stddef.h>

#include "arbiter/config.h"

extern const struct setting config_rows_serving[];
extern const struct setting config_rows_running[];

int clamp_request_line(long v, long *out);
int clamp_request_fields(long v, long *out);
int clamp_field_size(long v, long *out);
int check_keyval(const char *item, char *why, size_t whylen);
int check_root_path(const char *item, char *why, size_t whylen);
int check_syslog_addr(const char *item, char *why, size_t whylen);
int check_user(const char *item, char *why, size_t whylen);
int check_group(const char *item, char *why, size_t whylen);
int check_token(const char *item, char *why, size_t whylen);
int check_header_name(const char *item, char *why, size_t whylen);
int check_address(const char *item, char *why, size_t whylen);
int check_tags(const char *item, char *why, size_t whylen);
int check_protocol(const char *item, char *why, size_t whylen);
