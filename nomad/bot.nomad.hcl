# One SniperForge bot as a Nomad service job, pinned to one node.
#
# `sniperforge agent --backend nomad` registers this job through Nomad's HTTP API for each bot,
# with the ID sniperforge-bot-<bot_id> and these variables filled in; a test compares the job it
# registers with this file field by field. To run a bot by hand:
#   nomad job run -var bot_id=arb-1 -var node=$(hostname) -var environment=prod bot.nomad.hcl
# after writing its configuration to <data_dir>/bots/<bot_id>/config.json and its control
# endpoint's secret (16 or more characters, mode 0600) to <data_dir>/bots/<bot_id>/control.secret.
# Running it again with another `generation` (what the agent does for a restart or a cold
# change) deploys the new version as a canary beside the running allocation: it loads in standby
# (the running one holds the bot's trading lease), is promoted once its check has passed for
# min_healthy_time, and Nomad then stops the old allocation (SIGTERM: it drains and lets the
# lease go, and the canary takes it). A canary that is not healthy in time is reverted.

variable "bot_id" {
  type = string
}

variable "node" {
  type        = string
  description = "Nomad node name (node.unique.name) the bot runs on"
}

variable "generation" {
  type        = string
  default     = "1"
  description = "Changed to deploy a new version of the same job (a restart)"
}

variable "healthy_deadline_s" {
  type        = number
  default     = 30
  description = "Seconds a new version has to pass its check (the agent's --handover-ready-ms)"
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

variable "failover" {
  type        = bool
  default     = false
  description = "Whether the gateway fails the bot over to another node when this one is lost: the bot then reads its fencing lease from <data_dir>/fences/<bot_id> (written by the agent) and stops once it lapses"
}

variable "environment" {
  type        = string
  default     = "dev"
  description = "The bot's environment (dev, test or prod): its job goes to the namespace of that name (`nomad namespace apply prod`; the agent creates a missing one when its token may)"
}

job "sniperforge-bot" {
  namespace   = var.environment
  type        = "service"
  datacenters = ["*"]
  priority    = 80

  constraint {
    attribute = "${node.unique.name}"
    value     = var.node
  }

  # Warm deploys: a new version runs as a canary beside the old allocation and replaces it only
  # once its /health check has passed for min_healthy_time; one that does not in time is
  # reverted, and the old allocation trades on.
  update {
    max_parallel      = 1
    canary            = 1
    auto_promote      = true
    health_check      = "checks"
    min_healthy_time  = "3s"
    healthy_deadline  = "${var.healthy_deadline_s}s"
    progress_deadline = "0s"
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

    # A port per allocation: the canary and the allocation it replaces run side by side.
    network {
      port "control" {}
    }

    service {
      name     = "sniperforge-bot-${var.bot_id}"
      provider = "nomad"
      port     = "control"
      address  = "127.0.0.1"

      # Ready: market loaded, feed fresh; a new version is promoted once it passes.
      check {
        name     = "ready"
        type     = "http"
        path     = "/health"
        interval = "1s"
        timeout  = "1s"
      }

      # Alive: the process answers and its strategy loop runs. Three failures in a row (a hung
      # bot, a wedged strategy thread) restart the task; a start has the healthy deadline to
      # load first. A stale feed fails only the ready check: restarting every bot would not
      # mend it.
      check {
        name     = "live"
        type     = "http"
        path     = "/live"
        interval = "1s"
        timeout  = "1s"

        check_restart {
          limit           = 3
          grace           = "${var.healthy_deadline_s}s"
          ignore_warnings = false
        }
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
            "--control-addr", "127.0.0.1:${NOMAD_PORT_control}",
            "--feed", var.feed,
          ],
          var.feed_args,
          [
            "--state-dir", "${var.data_dir}/bots/${var.bot_id}",
            "--seed", var.seed,
            "--control-secret-file", "${var.data_dir}/bots/${var.bot_id}/control.secret",
          ],
          var.failover ? ["--fence-file", "${var.data_dir}/fences/${var.bot_id}"] : [],
          [
            "--log-file", "${var.data_dir}/bots/${var.bot_id}/bot.log",
          ],
        )
      }

      env {
        SNIPERFORGE_BOT_ID = var.bot_id
      }

      meta {
        generation = var.generation
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
