{
  "targets": [
    {
      "target_name": "thread_creds",
      "sources": ["thread_creds.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
