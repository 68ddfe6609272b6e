# The SniperForge gateway as a Nomad service job (one instance; SQLite on a host volume, or
# PostgreSQL with -var database=postgres://…).
#   nomad job run -var node=gw-1 gateway.nomad.hcl

variable "node" {
  type = string
}

variable "database" {
  type    = string
  default = "sqlite:///var/lib/sniperforge/gateway.db"
}

variable "binary" {
  type    = string
  default = "/usr/local/bin/sniperforge"
}

job "sniperforge-gateway" {
  type        = "service"
  datacenters = ["*"]
  priority    = 90

  constraint {
    attribute = "${node.unique.name}"
    value     = var.node
  }

  group "gateway" {
    count = 1

    network {
      port "http" {
        static = 8080
      }
    }

    service {
      name     = "sniperforge-gateway"
      provider = "nomad"
      port     = "http"

      check {
        type     = "http"
        path     = "/api/v1/system/health"
        interval = "5s"
        timeout  = "2s"
      }
    }

    restart {
      attempts = 10
      interval = "5m"
      delay    = "2s"
      mode     = "delay"
    }

    task "gateway" {
      driver = "raw_exec"

      config {
        command = var.binary
        args    = ["gateway", "--listen", "0.0.0.0:8080", "--database", var.database, "--data-dir", "/var/lib/sniperforge"]
      }

      kill_signal  = "SIGTERM"
      kill_timeout = "15s"

      resources {
        cpu    = 1000
        memory = 512
      }
    }
  }
}
