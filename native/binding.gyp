{
  "targets": [
    {
      "target_name": "vipd_native",
      "sources": [
        "src/addon.cc",
        "src/common.cc",
        "src/vrrp_socket.cc",
        "src/kernel_absorb.cc",
        "src/packet_socket.cc",
        "src/timer.cc",
        "src/notify.cc",
        "src/peercred.cc",
        "src/sched.cc",
        "src/memory.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_DISABLE_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED"
      ],
      "cflags": ["-Wall", "-Wextra"],
      "cflags_cc": ["-Wall", "-Wextra", "-std=gnu++17"]
    }
  ]
}
