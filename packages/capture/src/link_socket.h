// Link-layer sending (link_socket.cc), registered by the addon's init in packet_ring.cc.
#pragma once

#include <napi.h>

void InitLinkSocket(Napi::Env env, Napi::Object exports);
