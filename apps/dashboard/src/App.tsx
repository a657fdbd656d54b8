// The shell: navigation, who is signed in, and the page the fragment names.
import { useAuth } from './auth';
import { useRoute } from './hooks';
import { DatasetPage } from './pages/Dataset';
import { DatasetsPage } from './pages/Datasets';
import { EvaluationPage, EvaluationsPage } from './pages/Evaluations';
import { JobPage } from './pages/Job';
import { JobsPage } from './pages/Jobs';
import { ModelsPage } from './pages/Models';
import { NewJobPage } from './pages/NewJob';
import { PlaygroundPage } from './pages/Playground';

const NAV = [
  ['datasets', 'Datasets'],
  ['jobs', 'Jobs'],
  ['evaluations', 'Evaluations'],
  ['models', 'Models'],
  ['playground', 'Playground'],
] as const;

function Page({ route }: { route: string[] }) {
  const { can } = useAuth();
  const [section, id] = route;
  switch (section) {
    case undefined:
    case 'datasets':
      return id ? <DatasetPage id={id} /> : <DatasetsPage />;
    case 'jobs':
      if (id === 'new') return can('operator') ? <NewJobPage /> : <p>Starting jobs needs the operator role.</p>;
      return id ? <JobPage id={id} /> : <JobsPage />;
    case 'evaluations':
      return id ? <EvaluationPage id={id} /> : <EvaluationsPage />;
    case 'models':
      return <ModelsPage />;
    case 'playground':
      return can('operator') ? <PlaygroundPage /> : <p>Generation needs the operator role.</p>;
    default:
      return <p>No page here. Pick one above.</p>;
  }
}

export function App() {
  const route = useRoute();
  const { viewer, signOut } = useAuth();
  const current = route[0] ?? 'datasets';
  return (
    <>
      <header>
        <strong className="brand">tunemesh</strong>
        <nav>
          {NAV.map(([path, label]) => (
            <a key={path} href={`#/${path}`} className={current === path ? 'active' : ''}>
              {label}
            </a>
          ))}
          <a href="/graphql" target="_blank" rel="noreferrer">
            GraphQL IDE
          </a>
        </nav>
        <span className="who" data-testid="viewer" data-role={viewer.role}>
          {viewer.devMode ? 'development mode (no keys)' : viewer.keyId} · {viewer.role}
          {!viewer.devMode && (
            <button type="button" className="link" onClick={signOut}>
              sign out
            </button>
          )}
        </span>
      </header>
      <main>
        <Page route={route} />
      </main>
    </>
  );
}
