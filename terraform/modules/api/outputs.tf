output "api_url" {
  description = "Base URL of the prediction API."
  value       = local.http ? aws_apigatewayv2_stage.http[0].invoke_url : aws_api_gateway_stage.rest[0].invoke_url
}

output "api_id" {
  description = "API id."
  value       = local.http ? aws_apigatewayv2_api.http[0].id : aws_api_gateway_rest_api.rest[0].id
}

output "api_name" {
  description = "API name (the REST API's metric dimension)."
  value       = "${var.name_prefix}-api"
}

output "stage_name" {
  description = "Stage serving the API."
  value       = local.http ? aws_apigatewayv2_stage.http[0].name : aws_api_gateway_stage.rest[0].stage_name
}

output "execution_arn" {
  description = "Execution ARN (for IAM policies that allow calling the API)."
  value       = local.execution_arn
}

output "operation_arns" {
  description = "execute-api:Invoke resource ARNs per operation (auth = iam): grant predict and feedback to different principals."
  value = {
    predict  = "${local.execution_arn}/${local.stage}/POST/predict"
    feedback = "${local.execution_arn}/${local.stage}/POST/feedback"
    read     = "${local.execution_arn}/${local.stage}/GET/*"
  }
}
