/* dashboard_assets.h - the dashboard page's sources (gateway/dashboard/),
 * embedded at build time by cmake/embed.cmake. Each array
 * ends with a NUL not counted in its _len. */
#ifndef BM_GATEWAY_DASHBOARD_ASSETS_H
#define BM_GATEWAY_DASHBOARD_ASSETS_H

#include <stddef.h>

extern const unsigned char gw_dash_index_html[];
extern const size_t gw_dash_index_html_len;
extern const unsigned char gw_dash_app_js[];
extern const size_t gw_dash_app_js_len;
extern const unsigned char gw_dash_style_css[];
extern const size_t gw_dash_style_css_len;

#endif
