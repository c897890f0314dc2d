terraform {
  required_version = ">= 1.10"

  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = ">= 4.21, < 5.0"
    }
    random = {
      source  = "hashicorp/random"
      version = ">= 3.6, < 4.0"
    }
  }

  # Azure Storage state (blob leases lock it), reached with Entra ID, never an account key.
  # Partial: key comes from <env>.azurerm.tfbackend (one state per environment), the account and
  # container from terraform init -backend-config (see docs/azure.md and terraform/azure/bootstrap).
  backend "azurerm" {
    use_azuread_auth = true
  }
}

provider "azurerm" {
  features {}
  # Data-plane calls (containers, queues, tables) with Entra ID: the account has no shared keys.
  storage_use_azuread = true
}
