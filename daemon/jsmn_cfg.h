/* jsmn's token type, with parent links (event_view.c tells keys from values by their
 * parent). Only the types: json_tok.c fills the tokens, not jsmn_parse. Including
 * jsmn.h the same way everywhere keeps jsmntok_t one layout across files. */
#ifndef AW_JSMN_CFG_H
#define AW_JSMN_CFG_H

#define JSMN_HEADER
#define JSMN_PARENT_LINKS
#include <jsmn.h>

#endif
