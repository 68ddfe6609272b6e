# One SniperForge bot as a Nomad service job, pinned to one node.
#
# `sniperforge agent --backend nomad` registers this job through Nomad's HTTP API for each bot,
# with the ID sniperforge-bot-<bot_id> and these variables filled in; a test compares the job it
# registers with this file field by field. To run a bot by hand:
#   nomad job run -var bot_id=arb-1 -var node=$(hostname) -var control_port=9101 bot.nomad.hcl
# after writing its configuration to <data_dir>/bots/<bot_id>/config.json and its control
# endpoint's secret (16 or more characters, mode 0600) to <data_dir>/bots/<bot_id>/control.secret.

variable "bot_id" {
  type = string
}

variable "node" {
  type        = string
  description = "Nomad node name (node.unique.name) the bot runs on"
}

variable "control_port" {
  type    = number
  default = 9101
}

variable "cores" {
  type        = number
  default     = 2
  description = "Whole cores reserved (the bot pins its feed and strategy threads inside them)"
}

variable "memory_mb" {
  type    = number
  default = 512
}

variable "data_dir" {
  type    = string
  default = "/var/lib/sniperforge"
}

variable "binary" {
  type    = string
  default = "/usr/local/bin/sniperforge"
}

variable "feed" {
  type    = string
  default = "sim"
}

variable "feed_args" {
  description = "The feed's endpoint flags, e.g. [\"--rpc-url\", \"https://node\", \"--markets\", \"/etc/sniperforge/markets.json\"]"
  type        = list(string)
  default     = []
}

variable "user" {
  type        = string
  default     = ""
  description = "The unprivileged user the bot runs as (raw_exec; Nomad's client runs as root). Empty: the client's user"
}

variable "seed" {
  type    = string
  default = "7"
}

job "sniperforge-bot" {
  type        = "service"
  datacenters = ["*"]
  priority    = 80

  constraint {
    attribute = "${node.unique.name}"
    value     = var.node
  }

  # Rolling deploys: a new version replaces the old allocation only once its /health check
  # passes; a version that never gets healthy is rolled back.
  update {
    max_parallel      = 1
    health_check      = "checks"
    min_healthy_time  = "10s"
    healthy_deadline  = "2m"
    progress_deadline = "5m"
    auto_revert       = true
  }

  group "bot" {
    count = 1

    # A crash loop (5 failures within a minute) waits out the interval before trying again.
    restart {
      attempts = 5
      interval = "1m"
      delay    = "1s"
      mode     = "delay"
    }

    network {
      port "control" {
        static = var.control_port
      }
    }

    service {
      name     = "sniperforge-bot-${var.bot_id}"
      provider = "nomad"
      port     = "control"
      address  = "127.0.0.1"

      check {
        type     = "http"
        path     = "/health"
        interval = "5s"
        timeout  = "2s"
      }
    }

    task "bot" {
      driver = "raw_exec"
      user   = var.user

      config {
        command = var.binary
        args = concat(
          [
            "bot",
            "--config", "${var.data_dir}/bots/${var.bot_id}/config.json",
            "--control-addr", "127.0.0.1:${var.control_port}",
            "--feed", var.feed,
          ],
          var.feed_args,
          [
            "--state-dir", "${var.data_dir}/bots/${var.bot_id}",
            "--seed", var.seed,
            "--control-secret-file", "${var.data_dir}/bots/${var.bot_id}/control.secret",
            "--log-file", "${var.data_dir}/bots/${var.bot_id}/bot.log",
          ],
        )
      }

      env {
        SNIPERFORGE_BOT_ID = var.bot_id
      }

      kill_signal  = "SIGTERM"
      kill_timeout = "10s"

      resources {
        cores  = var.cores
        memory = var.memory_mb
      }
    }
  }
}
