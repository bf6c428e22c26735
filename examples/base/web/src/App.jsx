export default function App() {
  return <main><h1>Orders</h1><p>Track every order in one place.</p></main>;
}
