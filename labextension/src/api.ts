// REST client for the jupyter-mlops server extension (/jupyter-mlops/api/...).
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export interface IExperiment {
  experiment_id: string;
  name: string;
  last_update_time: number | null;
}

export interface IRunSummary {
  run_id: string;
  run_name: string | null;
  experiment_id: string;
  status: string;
  start_time: number | null;
  end_time: number | null;
  params: Record<string, string>;
  metrics: Record<string, number | null>;
  tags: Record<string, string>;
}

export interface IRunPage {
  runs: IRunSummary[];
  total: number;
  offset: number;
  limit: number;
}

export interface IRunKeys {
  metrics: string[];
  params: string[];
  primary_metric: string | null;
}

export interface IArtifact {
  path: string;
  is_dir: boolean;
  size: number | null;
}

export interface IRunDetail extends IRunSummary {
  artifact_uri: string;
  artifacts: IArtifact[];
  artifacts_truncated: boolean;
  data_versions: { name: string; digest: string; source: string; context: string }[];
}

export interface IMetricPoint {
  step: number;
  value: number;
  timestamp: number;
}

export interface IModel {
  name: string;
  description: string;
  aliases: Record<string, string>;
  latest_version: string | null;
}

export interface IModelVersion {
  version: string;
  run_id: string | null;
  run_name: string | null;
  status: string;
  stage: string | null;
  aliases: string[];
  creation_time: number | null;
  metrics: Record<string, number | null>;
}

export interface IPromotion {
  action: string;
  alias: string;
  version: string | null;
  previous_version: string | null;
  user: string;
  time_ms: number;
}

export interface IModelAccess {
  user: string;
  permission: string | null;
  can_promote: boolean;
  reason: string | null;
}

export interface IModelDetail {
  name: string;
  aliases: Record<string, string>;
  versions: IModelVersion[];
  history: IPromotion[];
  /** Whether the server's user may move aliases (MANAGE); `reason` says why not. */
  access?: IModelAccess;
  /** After a promote or demote: one line per local model server that could not act at once. */
  serving_notes?: string[];
}

export interface IComparison {
  name: string;
  alias: string;
  candidate: { version: string; run_id: string | null };
  current: { version: string; run_id: string | null } | null;
  metrics: {
    key: string;
    candidate: number | null;
    current: number | null;
    delta: number | null;
  }[];
  primary: { metric: string | null; higher_is_better: boolean; worse: boolean; message: string };
}

/** A model server running on this host (started by any kernel or `jupyter mlops serve`). */
export interface IServedModel {
  pid: number;
  url: string;
  model: string | null;
  version: string | null;
  model_uri: string;
  shadow_uri: string | null;
  shadow_version: string | null;
  requests?: number | null;
  errors?: number | null;
  p50_ms?: number | null;
  shadow_agreement?: number | null;
}

/** Whether a run's slice code or DVC inputs changed since it ran (hash comparison). */
export interface IStale {
  stale: boolean;
  reasons: string[];
  reproducible: boolean;
}

/** An API failure with the server's one-line message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string
  ) {
    super(message);
  }
}

type Query = Record<string, string | string[] | undefined>;

function queryString(query: Query): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined) {
      continue;
    }
    for (const item of Array.isArray(value) ? value : [value]) {
      params.append(key, item);
    }
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

async function send(
  path: string,
  query: Query = {},
  init: RequestInit = {}
): Promise<Response> {
  const settings = ServerConnection.makeSettings();
  const url =
    URLExt.join(settings.baseUrl, 'jupyter-mlops', 'api', path) +
    queryString(query);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new ApiError(0, `jupyter-mlops server unreachable: ${String(error)}`);
  }
  if (!response.ok) {
    let message = response.statusText;
    try {
      const body = await response.json();
      message = body.error || body.message || message;
    } catch {
      // not JSON: keep the status text
    }
    throw new ApiError(response.status, message);
  }
  return response;
}

async function getJson<T>(path: string, query: Query = {}): Promise<T> {
  return (await send(path, query)).json() as Promise<T>;
}

export interface IDelivery {
  pending: number;
  oldest: number | null;
  failing: string | null;
  quarantined: number;
}

export const api = {
  delivery: (): Promise<IDelivery> => getJson<IDelivery>('delivery'),
  experiments: async (): Promise<IExperiment[]> =>
    (await getJson<{ experiments: IExperiment[] }>('experiments')).experiments,
  runs: (
    experimentId: string,
    options: { offset?: number; limit?: number; orderBy?: string; filter?: string }
  ): Promise<IRunPage> =>
    getJson<IRunPage>(
      `experiments/${encodeURIComponent(experimentId)}/runs`,
      {
        offset: String(options.offset ?? 0),
        limit: String(options.limit ?? 50),
        order_by: options.orderBy || undefined,
        filter: options.filter || undefined
      }
    ),
  stale: async (experimentId: string, runIds: string[]): Promise<Record<string, IStale>> =>
    (
      await getJson<{ runs: Record<string, IStale> }>(
        `experiments/${encodeURIComponent(experimentId)}/stale`,
        { run: runIds }
      )
    ).runs,
  keys: (experimentId: string): Promise<IRunKeys> =>
    getJson<IRunKeys>(`experiments/${encodeURIComponent(experimentId)}/keys`),
  run: (runId: string): Promise<IRunDetail> =>
    getJson<IRunDetail>(`runs/${encodeURIComponent(runId)}`),
  metricHistory: async (runId: string, key: string): Promise<IMetricPoint[]> =>
    (
      await getJson<{ points: IMetricPoint[] }>(
        `runs/${encodeURIComponent(runId)}/metric-history`,
        { key }
      )
    ).points,
  artifactText: async (runId: string, path: string): Promise<string> =>
    (await send(`runs/${encodeURIComponent(runId)}/artifact`, { path })).text(),
  artifactBlob: async (runId: string, path: string): Promise<Blob> =>
    (await send(`runs/${encodeURIComponent(runId)}/artifact`, { path })).blob(),
  models: async (): Promise<IModel[]> =>
    (await getJson<{ models: IModel[] }>('models')).models,
  model: (name: string): Promise<IModelDetail> =>
    getJson<IModelDetail>('model', { name }),
  compare: (name: string, version: string, alias: string): Promise<IComparison> =>
    getJson<IComparison>('model/compare', { name, version, alias }),
  promote: async (
    name: string,
    version: string,
    alias: string
  ): Promise<IModelDetail> =>
    (
      await send(
        'model/promote',
        {},
        { method: 'POST', body: JSON.stringify({ name, version, alias }) }
      )
    ).json(),
  serving: async (name?: string): Promise<IServedModel[]> =>
    (await getJson<{ servers: IServedModel[] }>('serving', { name })).servers,
  demote: async (name: string, alias: string): Promise<IModelDetail> =>
    (
      await send(
        'model/promote',
        {},
        { method: 'POST', body: JSON.stringify({ name, alias, remove: true }) }
      )
    ).json()
};
