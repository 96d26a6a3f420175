{
  "targets": [
    {
      "target_name": "tcpotel",
      "sources": [
        "native/addon.cc",
        "native/aggregates.cc",
        "native/consumer.cc",
        "native/errors.cc",
        "native/probes.cc",
        "native/sockdiag.cc",
        "native/system.cc",
        "native/tracer.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "bpf/.output",
        "bpf"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wno-missing-field-initializers"],
      "libraries": ["-lbpf", "-lelf", "-lz"]
    }
  ]
}
