# The SniperForge agent on every client node (a system job). With --backend nomad it registers
# one sniperforge-bot-<bot_id> service job per bot of its node (see bot.nomad.hcl); the token
# comes from a Nomad variable at nomad/jobs/sniperforge-agent.
#   nomad var put nomad/jobs/sniperforge-agent token=<operator token> nomad_token=<ACL token>
#   nomad job run -var gateway=http://gw.internal:8080 agent.nomad.hcl

variable "gateway" {
  type = string
}

variable "binary" {
  type    = string
  default = "/usr/local/bin/sniperforge"
}

job "sniperforge-agent" {
  type        = "system"
  datacenters = ["*"]
  priority    = 90

  group "agent" {
    restart {
      attempts = 10
      interval = "5m"
      delay    = "2s"
      mode     = "delay"
    }

    task "agent" {
      driver = "raw_exec"

      template {
        destination = "secrets/agent.env"
        env         = true
        data        = <<-EOT
          {{ with nomadVar "nomad/jobs/sniperforge-agent" }}
          SNIPERFORGE_TOKEN={{ .token }}
          NOMAD_TOKEN={{ .nomad_token }}
          {{ end }}
        EOT
      }

      template {
        destination = "secrets/token"
        data        = "{{ with nomadVar \"nomad/jobs/sniperforge-agent\" }}{{ .token }}{{ end }}"
      }

      config {
        command = var.binary
        args = [
          "agent",
          "--gateway", var.gateway,
          "--token-file", "${NOMAD_SECRETS_DIR}/token",
          "--node-id", "${node.unique.name}",
          "--backend", "nomad",
          "--nomad-addr", "http://127.0.0.1:4646",
          "--data-dir", "/var/lib/sniperforge",
        ]
      }

      kill_signal  = "SIGTERM"
      kill_timeout = "15s"

      resources {
        cpu    = 200
        memory = 128
      }
    }
  }
}
