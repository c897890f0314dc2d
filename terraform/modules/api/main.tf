locals {
  http = var.api_type == "http"
  rest = var.api_type == "rest"
  # POST /predict and POST /feedback are routes of their own so that their authorization can
  # differ: JWT scopes per route, and with IAM each has its own ARN to grant (operation_arns).
  # Feedback labels feed the accuracy alarm that retrains: grant them to fewer callers.
  http_routes = {
    predict  = { route_key = "POST /predict", scopes = var.predict_authorization_scopes }
    feedback = { route_key = "POST /feedback", scopes = var.feedback_authorization_scopes }
    other    = { route_key = "ANY /{proxy+}", scopes = [] }
  }
  stage         = local.http ? "$default" : "api"
  execution_arn = local.http ? aws_apigatewayv2_api.http[0].execution_arn : aws_api_gateway_rest_api.rest[0].execution_arn
  # Who called: the IAM principal that signed the request (auth = "iam"), "-" when none.
  caller_log_fields = {
    callerArn     = "$context.identity.userArn"
    caller        = "$context.identity.caller"
    callerAccount = "$context.identity.accountId"
  }
  # What the authorizer established: the JWT's subject and client (HTTP API, auth = "jwt"),
  # or an authorizer's principal (REST).
  authorizer_log_fields = local.http ? tomap({
    jwtSubject  = "$context.authorizer.claims.sub"
    jwtClientId = "$context.authorizer.claims.client_id"
    }) : tomap({
    principalId = "$context.authorizer.principalId"
  })
  access_log_format = jsonencode(merge({
    requestId      = "$context.requestId"
    ip             = "$context.identity.sourceIp"
    requestTime    = "$context.requestTime"
    httpMethod     = "$context.httpMethod"
    path           = "$context.path"
    status         = "$context.status"
    responseLength = "$context.responseLength"
    latencyMs      = "$context.responseLatency"
    integrationErr = "$context.integrationErrorMessage"
  }, local.caller_log_fields, local.authorizer_log_fields))
}

resource "aws_cloudwatch_log_group" "access" {
  name              = "/aws/apigateway/${var.name_prefix}-api"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

# -- HTTP API (payload v2) ---------------------------------------------------------------

resource "aws_apigatewayv2_api" "http" {
  count         = local.http ? 1 : 0
  name          = "${var.name_prefix}-api"
  protocol_type = "HTTP"
  description   = "Model predictions (FastAPI on Lambda)."
}

resource "aws_apigatewayv2_integration" "http" {
  count                  = local.http ? 1 : 0
  api_id                 = aws_apigatewayv2_api.http[0].id
  integration_type       = "AWS_PROXY"
  integration_uri        = var.function_invoke_arn
  payload_format_version = "2.0"
  timeout_milliseconds   = 29000
}

resource "aws_apigatewayv2_authorizer" "jwt" {
  count            = local.http && var.auth == "jwt" ? 1 : 0
  api_id           = aws_apigatewayv2_api.http[0].id
  name             = "jwt"
  authorizer_type  = "JWT"
  identity_sources = ["$request.header.Authorization"]
  jwt_configuration {
    issuer   = var.jwt_issuer
    audience = var.jwt_audience
  }
}

resource "aws_apigatewayv2_route" "http" {
  #checkov:skip=CKV_AWS_309:Authorization is AWS_IAM by default (or JWT); NONE only when a caller sets auth = "none" explicitly (checkov cannot evaluate the conditional).
  for_each             = local.http ? local.http_routes : {}
  api_id               = aws_apigatewayv2_api.http[0].id
  route_key            = each.value.route_key
  target               = "integrations/${aws_apigatewayv2_integration.http[0].id}"
  authorization_type   = var.auth == "iam" ? "AWS_IAM" : (var.auth == "jwt" ? "JWT" : "NONE")
  authorizer_id        = var.auth == "jwt" ? aws_apigatewayv2_authorizer.jwt[0].id : null
  authorization_scopes = length(each.value.scopes) > 0 ? each.value.scopes : null
}

moved {
  from = aws_apigatewayv2_route.http[0]
  to   = aws_apigatewayv2_route.http["other"]
}

resource "aws_apigatewayv2_stage" "http" {
  count       = local.http ? 1 : 0
  api_id      = aws_apigatewayv2_api.http[0].id
  name        = "$default"
  auto_deploy = true

  default_route_settings {
    throttling_burst_limit   = var.throttling_burst_limit
    throttling_rate_limit    = var.throttling_rate_limit
    detailed_metrics_enabled = true
  }

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.access.arn
    format          = local.access_log_format
  }
}

# -- REST API (v1) -----------------------------------------------------------------------

resource "aws_api_gateway_rest_api" "rest" {
  count       = local.rest ? 1 : 0
  name        = "${var.name_prefix}-api"
  description = "Model predictions (FastAPI on Lambda)."
  endpoint_configuration {
    types = ["REGIONAL"]
  }
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_api_gateway_resource" "proxy" {
  count       = local.rest ? 1 : 0
  rest_api_id = aws_api_gateway_rest_api.rest[0].id
  parent_id   = aws_api_gateway_rest_api.rest[0].root_resource_id
  path_part   = "{proxy+}"
}

resource "aws_api_gateway_method" "proxy" {
  #checkov:skip=CKV2_AWS_53:The body is validated by the application (422 names the bad field), not by API Gateway models.
  #checkov:skip=CKV_AWS_59:Authorization is AWS_IAM by default; NONE only when a caller sets auth = "none" explicitly (checkov cannot evaluate the conditional).
  count         = local.rest ? 1 : 0
  rest_api_id   = aws_api_gateway_rest_api.rest[0].id
  resource_id   = aws_api_gateway_resource.proxy[0].id
  http_method   = "ANY"
  authorization = var.auth == "iam" ? "AWS_IAM" : "NONE"
}

resource "aws_api_gateway_integration" "proxy" {
  count                   = local.rest ? 1 : 0
  rest_api_id             = aws_api_gateway_rest_api.rest[0].id
  resource_id             = aws_api_gateway_resource.proxy[0].id
  http_method             = aws_api_gateway_method.proxy[0].http_method
  integration_http_method = "POST"
  type                    = "AWS_PROXY"
  uri                     = var.function_invoke_arn
}

resource "aws_api_gateway_deployment" "rest" {
  count       = local.rest ? 1 : 0
  rest_api_id = aws_api_gateway_rest_api.rest[0].id
  triggers = {
    redeploy = sha1(jsonencode([aws_api_gateway_resource.proxy[0].id, aws_api_gateway_method.proxy[0].id, aws_api_gateway_integration.proxy[0].id]))
  }
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_api_gateway_stage" "rest" {
  #checkov:skip=CKV_AWS_120:Responses depend on the model version and request; caching would serve stale predictions.
  #checkov:skip=CKV2_AWS_51:Client certificates authenticate API Gateway to HTTP backends; the backend is Lambda.
  #checkov:skip=CKV2_AWS_29:A WAF web ACL is an organisation-wide choice; attach one to this stage if you have one.
  count                = local.rest ? 1 : 0
  rest_api_id          = aws_api_gateway_rest_api.rest[0].id
  deployment_id        = aws_api_gateway_deployment.rest[0].id
  stage_name           = local.stage
  xray_tracing_enabled = true

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.access.arn
    format          = local.access_log_format
  }
}

resource "aws_api_gateway_method_settings" "rest" {
  #checkov:skip=CKV_AWS_225:Caching is off (see the stage), so there is no cache to encrypt.
  count       = local.rest ? 1 : 0
  rest_api_id = aws_api_gateway_rest_api.rest[0].id
  stage_name  = aws_api_gateway_stage.rest[0].stage_name
  method_path = "*/*"
  settings {
    metrics_enabled        = true
    logging_level          = "ERROR"
    throttling_burst_limit = var.throttling_burst_limit
    throttling_rate_limit  = var.throttling_rate_limit
  }
}

# -- API Gateway may invoke the alias ------------------------------------------------------

resource "aws_lambda_permission" "api" {
  statement_id  = "ApiGatewayInvoke"
  action        = "lambda:InvokeFunction"
  function_name = var.function_name
  qualifier     = var.function_alias
  principal     = "apigateway.amazonaws.com"
  source_arn    = local.http ? "${aws_apigatewayv2_api.http[0].execution_arn}/*/*" : "${aws_api_gateway_rest_api.rest[0].execution_arn}/*/*"
}
