{
  "targets": [
    {
      "target_name": "salvor",
      "sources": [
        "native/addon.cc",
        "native/errors.cc",
        "native/boundary.cc",
        "native/pages/fault_slots.cc",
        "native/crc/crc32c.cc",
        "native/crc/crc32c_x86.cc",
        "native/crc/crc32.cc",
        "native/crc/crc_binding.cc",
        "native/nvram/verify.cc",
        "native/pages/delta.cc",
        "native/pages/delta_binding.cc",
        "native/pages/delta_compare.cc",
        "native/pages/hash_scan.cc",
        "native/pages/hash_scan_binding.cc",
        "native/sys/device.cc",
        "native/sys/probe.cc",
        "native/pages/mapping.cc",
        "native/pages/region.cc",
        "native/pages/region_stage.cc",
        "native/pages/uffd_tracker.cc",
        "native/pages/mprotect_tracker.cc",
        "native/pages/softdirty_tracker.cc",
        "native/pages/hash_tracker.cc",
        "native/pages/calibrate.cc",
        "native/pages/write_load.cc",
        "native/sys/probe_cpu.cc",
        "native/sys/probe_memory.cc",
        "native/sys/userfaultfd.cc",
        "native/sys/probe_devices.cc",
        "native/sys/notify.cc",
        "native/tee/tee_ioctl.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "native"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_CPP_EXCEPTIONS", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-O3", "-fno-exceptions", "-Wall", "-Wextra"],
      "cflags": ["-O3"]
    }
  ]
}
