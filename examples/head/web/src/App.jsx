export default function App() {
  return <main><h1>Orders</h1><p>Track every order, refund and return in one place.</p></main>;
}
