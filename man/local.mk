# Manual pages: kirin(1) and kirin.ini(5), installed and distributed as they are.
# tests/e2e/test_docs.py checks them against the settings table.
dist_man_MANS = man/kirin.1 man/kirin.ini.5
