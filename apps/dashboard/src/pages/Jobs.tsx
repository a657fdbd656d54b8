// The job list, kept live by `jobStatusChanged` (every job): each change reloads the list, so new jobs and
// their progress appear without a page reload.
import { useEffect } from 'react';
import { subscribe } from '../api';
import { useAuth } from '../auth';
import { ErrorBox, Status } from '../components/common';
import { date, num } from '../format';
import { useQuery } from '../hooks';

interface JobRow {
  id: string;
  name: string;
  status: string;
  method: string | null;
  dataset: { name: string } | null;
  baseModel: { name: string } | null;
  progress: { step: number; totalSteps: number; loss: number | null } | null;
  createdAt: string | null;
}

const LIST = `query Jobs { fineTuneJobs(first: 100) { edges { node {
  id name status method createdAt dataset { name } baseModel { name } progress { step totalSteps loss }
} } } }`;

export function JobsPage() {
  const { can } = useAuth();
  const list = useQuery<{ fineTuneJobs: { edges: { node: JobRow }[] } | null }>(LIST);
  const jobs = list.data?.fineTuneJobs?.edges.map((e) => e.node) ?? [];
  const { reload } = list;

  useEffect(
    () =>
      subscribe<{ jobStatusChanged: { jobId: string; status: string } }>(
        'subscription AllJobs { jobStatusChanged { jobId sequence status } }',
        {},
        {
          // Progress and the new status come with the reload; a reload per change keeps one source of truth.
          next: () => reload(),
        },
      ),
    [reload],
  );

  return (
    <section>
      <h2>Fine-tuning jobs</h2>
      {can('operator') && (
        <p>
          <a className="button" href="#/jobs/new">
            New job
          </a>
        </p>
      )}
      <ErrorBox error={list.error} />
      <table data-testid="jobs-table">
        <thead>
          <tr>
            <th>Job</th>
            <th>Status</th>
            <th>Method</th>
            <th>Base model</th>
            <th>Dataset</th>
            <th>Step</th>
            <th>Loss</th>
            <th>Created</th>
          </tr>
        </thead>
        <tbody>
          {jobs.map((j) => (
            <tr key={j.id} data-job={j.id}>
              <td>
                <a href={`#/jobs/${j.id}`}>{j.name || j.id}</a>
              </td>
              <td>
                <Status value={j.status} />
              </td>
              <td>{j.method ?? '—'}</td>
              <td>{j.baseModel?.name ?? '—'}</td>
              <td>{j.dataset?.name ?? '—'}</td>
              <td>{j.progress ? `${j.progress.step} / ${j.progress.totalSteps}` : '—'}</td>
              <td>{num(j.progress?.loss)}</td>
              <td>{date(j.createdAt)}</td>
            </tr>
          ))}
          {jobs.length === 0 && !list.loading && (
            <tr>
              <td colSpan={8} className="muted">
                No jobs yet.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </section>
  );
}
