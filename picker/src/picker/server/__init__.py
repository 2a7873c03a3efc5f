"""The picker's network surface: the ext_proc servicer (Endpoint Picker Protocol), gRPC health, TLS
credentials and the metrics HTTP endpoint. Decisions live below, in the RequestDirector."""
